"""A hub on a uvicorn without server-side WebSocket pings refuses to start with one line.

uvicorn 0.35–0.43 has the sans-I/O WebSocket protocol but not its keepalive: such a
hub started and never noticed a dead agent. The uvicorn installed here is newer, so
the old one is stood in for by removing ``start_keepalive`` in the child process
before anything runs (a sitecustomize on its path); installing uvicorn 0.43 into a
second environment would show the same.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.commands import dispatch_cli

AS_UVICORN_0_43 = """
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
del WebSocketsSansIOProtocol.start_keepalive
"""


def test_a_uvicorn_without_start_keepalive_stops_the_hub_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(AS_UVICORN_0_43, encoding="utf-8")
    result = dispatch_cli(
        "serve",
        env={
            "PYTHONPATH": str(tmp_path),
            "SILENT_ALARM_DATA_DIR": str(tmp_path / "data"),
            "SILENT_ALARM_SESSION_SECRET": "s" * 48,
        },
    )
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "\n" not in line, result.stderr
    assert "no WebSocketsSansIOProtocol.start_keepalive" in line
    assert "uvicorn >= 0.44" in line
    assert not (tmp_path / "data").exists()  # refused before it migrated anything
