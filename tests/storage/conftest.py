"""One fixture, every backend: the same repository tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dispatch.database import Database
from dispatch.migrate import upgrade
from tests.support.postgres import create_database, drop_database, sqlalchemy_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database on each backend, dropped afterwards."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}"
        created = None
    else:
        created = await create_database("silent_alarm_test")
        url = sqlalchemy_url(created)
    # Alembic runs its own event loop; keep it off the test's loop.
    await asyncio.to_thread(upgrade, url)
    database = Database(url)
    try:
        yield database
    finally:
        await database.dispose()
        if created:
            await drop_database(created)
