"""SQLite connections go back to the pool without a ROLLBACK, unless a transaction is open.

``dispatch.store.database`` replaces the pool's rollback on return for SQLite: after a
commit there is nothing to roll back, and each ROLLBACK would be one more trip to
aiosqlite's thread. A connection returned in the middle of a transaction must
still come back clean.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from dispatch.store.database import Database


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'reset.sqlite3'}")
    async with database.write() as session:
        await session.execute(text("CREATE TABLE t (x INTEGER)"))
    try:
        yield database
    finally:
        await database.dispose()


def driver_rollbacks(db: Database) -> list[int]:
    """Counts every rollback the dialect hands to the driver, the pool's included."""
    calls: list[int] = []
    dialect = db.engine.sync_engine.dialect
    original = dialect.do_rollback

    def rollback(dbapi_connection: Any) -> None:
        calls.append(1)
        original(dbapi_connection)

    dialect.do_rollback = rollback  # type: ignore[method-assign]
    return calls


async def test_a_committed_write_returns_its_connection_without_a_rollback(
    sqlite_db: Database,
) -> None:
    rollbacks = driver_rollbacks(sqlite_db)
    async with sqlite_db.write() as session:
        await session.execute(text("INSERT INTO t VALUES (1)"))
    assert rollbacks == []


async def test_a_connection_returned_inside_a_transaction_is_rolled_back(
    sqlite_db: Database,
) -> None:
    checked_in: list[bool] = []
    event.listen(
        sqlite_db.engine.sync_engine,
        "checkin",
        lambda _dbapi, record: checked_in.append(record.driver_connection.in_transaction),
    )
    async with sqlite_db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        # Straight to the driver: SQLAlchemy does not know a transaction is open.
        await driver.execute("INSERT INTO t VALUES (2)")
        assert driver.in_transaction
    assert checked_in == [False]  # rolled back before it went back into the pool
    async with sqlite_db.read() as session:
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
