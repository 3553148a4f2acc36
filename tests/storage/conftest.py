"""One fixture, every backend: the same repository tests run on SQLite and PostgreSQL.

Each backend is migrated once per session into a template; every test gets a copy
of its own (a file copy for SQLite, ``CREATE DATABASE … TEMPLATE`` for PostgreSQL),
dropped afterwards. Tests of the migrations themselves migrate an empty database.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from dispatch.store.database import Database
from dispatch.store.migrate import upgrade
from tests.support.postgres import copy_database, create_database, drop_database, sqlalchemy_url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store migrated once for the session; tests get copies of the file."""
    path = tmp_path_factory.mktemp("template") / "store.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    with closing(sqlite3.connect(path)) as connection:  # everything in the file, none in a WAL
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def sqlite_file(sqlite_template: Path, tmp_path: Path) -> Path:
    """A migrated, empty SQLite store of the test's own (readable by its owner only)."""
    path = tmp_path / "store.sqlite3"
    shutil.copy(sqlite_template, path)
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A PostgreSQL database migrated once for the session, dropped at its end."""
    name = asyncio.run(create_database("silent_alarm_template"))
    try:
        upgrade(sqlalchemy_url(name))
        yield name
    finally:
        asyncio.run(drop_database(name))


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A migrated, empty PostgreSQL database of the test's own, dropped afterwards."""
    name = asyncio.run(copy_database(postgres_template, "silent_alarm_test"))
    try:
        yield sqlalchemy_url(name)
    finally:
        asyncio.run(drop_database(name))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty store of the test's own on each backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{request.getfixturevalue('sqlite_file')}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def db(store_url: str) -> AsyncIterator[Database]:
    """The repository on a store of the test's own."""
    database = Database(store_url)
    try:
        yield database
    finally:
        await database.dispose()
