"""Migration 0007's unique index on the audit chain's links: refused, loudly, on a forked chain."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dispatch.audit import GENESIS
from dispatch.migrate import upgrade

EVENT = (
    "INSERT INTO audit_events (at, actor, action, detail, previous_hash, hash) "
    "VALUES ('2026-11-01 10:00:00+00:00', 'test', ?, '{}', ?, ?)"
)


def migrate_cli(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """``python -m dispatch migrate``, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SILENT_ALARM_")}
    return subprocess.run(
        [sys.executable, "-m", "dispatch", "migrate"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "SILENT_ALARM_DATA_DIR": str(data_dir)},
        check=False,
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
    result = migrate_cli(tmp_path)
    assert result.returncode != 0
    assert "audit trail forked" in result.stderr
    assert "from id 2 on" in result.stderr
    assert "python -m dispatch audit verify" in result.stderr
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM audit_events").fetchone() == (3,)
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == ("0006",)
    db.close()


def test_the_upgraded_chain_has_a_unique_index_on_its_links(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as db:
        db.execute(EVENT, ("first", GENESIS, "a" * 64))
        with pytest.raises(sqlite3.IntegrityError, match="previous_hash"):
            db.execute(EVENT, ("again after genesis", GENESIS, "b" * 64))
    db.close()
