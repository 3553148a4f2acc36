"""Migration 0007 on a forked audit chain: ``python -m dispatch migrate`` stops, loudly, and
keeps every event."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dispatch.store.audit import GENESIS
from dispatch.store.migrate import upgrade
from tests.support.commands import dispatch_cli

EVENT = (
    "INSERT INTO audit_events (at, actor, action, detail, previous_hash, hash) "
    "VALUES ('2026-11-01 10:00:00+00:00', 'test', ?, '{}', ?, ?)"
)


def test_a_forked_chain_stops_the_migration_and_keeps_every_event(tmp_path: Path) -> None:
    path = tmp_path / "dispatch.sqlite3"  # the CLI's default in its data directory
    upgrade(f"sqlite+aiosqlite:///{path}", "0006")
    with sqlite3.connect(path) as db:
        db.executemany(
            EVENT,
            [
                ("first", GENESIS, "a" * 64),
                ("branch one", "a" * 64, "b" * 64),
                ("branch two", "a" * 64, "c" * 64),  # appended to the same head: a fork
            ],
        )
    db.close()
    result = dispatch_cli("migrate", env={"SILENT_ALARM_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "audit trail forked" in result.stderr
    assert "from id 2 on" in result.stderr
    assert "python -m dispatch audit verify" in result.stderr
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM audit_events").fetchone() == (3,)
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == ("0006",)
    db.close()
