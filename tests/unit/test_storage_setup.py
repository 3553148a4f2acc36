"""Migrations are the only source of tables, and they match the models."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from dispatch.migrate import alembic_config, upgrade


def test_migrations_build_the_schema_the_models_describe(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}"
    upgrade(url)
    command.check(alembic_config(url))  # raises when models and migrations differ


def test_sqlite_store_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
