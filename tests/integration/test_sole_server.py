"""One hub process per SQLite file: a second refuses with one line, a restart takes over.

Two hubs on one SQLite file share rows but not live events (a console on the second
saw nothing of an alarm raised through the first), so the second one must not start.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests.support.commands import dispatch_cli
from tests.support.hub import free_port, query, start_demo_hub


def test_a_second_hub_on_the_same_sqlite_file_refuses_with_one_line(tmp_path: Path) -> None:
    hub = start_demo_hub(tmp_path / "hub")
    try:
        audit_before = query(hub, "SELECT count(*), max(id) FROM audit_events")
        second = dispatch_cli(
            "serve",
            "--port",
            str(free_port()),
            env={
                "SILENT_ALARM_DATA_DIR": str(hub.data_dir),
                "SILENT_ALARM_SESSION_SECRET": "s" * 48,
            },
        )
        assert second.returncode == 2, second.stderr
        line = second.stderr.strip()
        assert "\n" not in line
        assert f"pid {hub.process.pid}" in line
        assert "PostgreSQL" in line
        assert httpx.get(f"{hub.url}/healthz", timeout=5).status_code == 200
        assert query(hub, "SELECT count(*), max(id) FROM audit_events") == audit_before
    finally:
        hub.stop()


def test_a_restarted_hub_takes_the_file_over_once_the_old_process_has_let_go(
    tmp_path: Path,
) -> None:
    old = start_demo_hub(tmp_path / "hub")
    old.process.send_signal(signal.SIGTERM)  # not waited for: the new one starts meanwhile
    new = start_demo_hub(tmp_path / "hub")
    try:
        assert old.process.poll() is not None, "the new hub answered beside the old one"
        assert httpx.get(f"{new.url}/healthz", timeout=5).status_code == 200
    finally:
        old.stop()
        new.stop()
