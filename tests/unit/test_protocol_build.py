"""The protocol builds validators lazily; the hub builds all of them at start.

Each check runs in a fresh interpreter: in this one other tests have long since
built every model.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def run_python(code: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_the_protocol_builds_no_validator_but_the_rest_bodys() -> None:
    out = run_python(
        """
        from shared import protocol
        built = [m.__name__ for m in protocol.models() if m.__pydantic_complete__]
        built += [n for n, a in protocol.CHANNELS.items() if a.pydantic_complete]
        print(built)
        """
    )
    assert out == "['IncidentReport']"  # a FastAPI request body: see its model_config


def test_build_all_builds_every_model_and_channel() -> None:
    out = run_python(
        """
        from shared import protocol
        protocol.build_all()
        missing = [m.__name__ for m in protocol.models() if not m.__pydantic_complete__]
        missing += [n for n, a in protocol.CHANNELS.items() if not a.pydantic_complete]
        print(len(protocol.models()), missing)
        """
    )
    count, missing = out.split(" ", 1)
    assert int(count) >= 25  # every message and value type, both channels
    assert missing == "[]"


@pytest.mark.timeout(120)
def test_the_hub_builds_every_validator_before_it_serves(tmp_path: Path) -> None:
    """The first alarm must not pay for building AlarmNotify's or RaiseAlarm's validator."""
    out = run_python(
        f"""
        import asyncio
        from pathlib import Path
        from dispatch.app import create_app
        from dispatch.migrate import upgrade
        from dispatch.settings import Settings
        from shared import protocol

        settings = Settings(session_secret="x" * 40, data_dir=Path({str(tmp_path)!r}))
        upgrade(settings.resolved_database_url)
        app = create_app(settings)

        async def started() -> list[str]:
            async with app.router.lifespan_context(app):
                missing = [m.__name__ for m in protocol.models() if not m.__pydantic_complete__]
                return missing + [
                    n for n, a in protocol.CHANNELS.items() if not a.pydantic_complete
                ]

        print("missing:", asyncio.run(started()))
        """,
        cwd=tmp_path,
    )
    # The hub's own log lines (a gc_pause, say) may come before or after the result.
    (result,) = [line for line in out.splitlines() if line.startswith("missing:")]
    assert result == "missing: []"
