"""Migrations are the only source of tables, and they match the models."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from dispatch.store.migrate import alembic_config, upgrade


def test_migrations_build_the_schema_the_models_describe(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}"
    upgrade(url)
    command.check(alembic_config(url))  # raises when models and migrations differ


def test_sqlite_store_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_audit_events_from_before_the_chain_are_chained_on_upgrade(tmp_path: Path) -> None:
    import asyncio

    from dispatch.store import audit
    from dispatch.store.database import Database

    path = tmp_path / "db.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url, "0001")
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO audit_events (at, actor, action, detail) VALUES (?, ?, ?, '{}')",
            [
                ("2026-01-01 10:00:00+00:00", "operator:a", "x"),
                ("2026-01-02 10:00:00+00:00", "b", "y"),
            ],
        )
    await asyncio.to_thread(upgrade, url)
    database = Database(url)
    try:
        verdict = await audit.verify(database)
    finally:
        await database.dispose()
    assert (verdict.events, verdict.broken_at) == (2, None)


def test_rooms_with_floor_names_get_buildings_and_floors_on_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url, "0002")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO sites (id, name, address) VALUES (1, 'Jobcenter', '')")
        db.executemany(
            "INSERT INTO rooms (site_id, number, name, floor, building) VALUES (1, ?, ?, ?, ?)",
            [
                ("1.01", "A", "1. OG", "Haus A"),
                ("1.02", "B", "1. OG", "Haus A"),
                ("0.01", "C", "EG", None),
            ],
        )
    upgrade(url)
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT r.number, f.name, b.name FROM rooms r JOIN floors f ON f.id = r.floor_id "
            "JOIN buildings b ON b.id = f.building_id ORDER BY r.number"
        ).fetchall()
        floors = db.execute("SELECT count(*) FROM floors").fetchone()
    assert rows == [
        ("0.01", "EG", "Hauptgebäude"),
        ("1.01", "1. OG", "Haus A"),
        ("1.02", "1. OG", "Haus A"),
    ]
    assert floors == (2,)
