"""One fixture, every backend: the same repository tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from dispatch.database import Database
from dispatch.migrate import upgrade

POSTGRES_ADMIN_DSN = os.environ.get(
    "SILENT_ALARM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def _create_postgres_database() -> str:
    name = f"silent_alarm_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL unreachable in CI at {POSTGRES_ADMIN_DSN}: {error}")
        pytest.skip(f"no PostgreSQL server reachable at {POSTGRES_ADMIN_DSN}")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name


async def _drop_postgres_database(name: str) -> None:
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database on each backend, dropped afterwards."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}"
        created = None
    else:
        created = await _create_postgres_database()
        base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace(
            "postgresql://", "postgresql+asyncpg://"
        )
        url = f"{base}/{created}"
    # Alembic runs its own event loop; keep it off the test's loop.
    await asyncio.to_thread(upgrade, url)
    database = Database(url)
    try:
        yield database
    finally:
        await database.dispose()
        if created:
            await _drop_postgres_database(created)
