"""Migration 0007's unique index on the audit chain's links (a forked chain: tests/integration)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dispatch.store.audit import GENESIS
from dispatch.store.migrate import upgrade

EVENT = (
    "INSERT INTO audit_events (at, actor, action, detail, previous_hash, hash) "
    "VALUES ('2026-11-01 10:00:00+00:00', 'test', ?, '{}', ?, ?)"
)


def test_the_upgraded_chain_has_a_unique_index_on_its_links(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as db:
        db.execute(EVENT, ("first", GENESIS, "a" * 64))
        with pytest.raises(sqlite3.IntegrityError, match="previous_hash"):
            db.execute(EVENT, ("again after genesis", GENESIS, "b" * 64))
    db.close()
