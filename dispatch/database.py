"""Creates the async engine; SQLite gets WAL, full fsync and foreign keys on every connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState

from dispatch.writer_turns import WriterTurns


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str) -> AsyncEngine:
    if not is_sqlite(url):
        return create_async_engine(url, pool_pre_ping=True)
    # The pool's reset is ours (_rollback_if_open): its own would send a ROLLBACK
    # after every commit, one more trip to aiosqlite's thread for nothing.
    engine = create_async_engine(url, pool_reset_on_return=None)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    event.listen(engine.sync_engine, "reset", _rollback_if_open)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # synchronous=FULL: an alarm acknowledged as stored survives a power cut.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _rollback_if_open(
    dbapi_connection: Any, record: ConnectionPoolEntry, state: PoolResetState
) -> None:
    """The pool's rollback on return, skipped when SQLite has no transaction open.

    After a commit, or a read that wrote nothing, there is nothing to roll back;
    a connection returned in the middle of a transaction is still rolled back.
    """
    if not state.asyncio_safe:  # garbage collection: no I/O here (the pool's own rule)
        return
    driver = record.driver_connection
    try:
        # Read on this thread: the connection is being returned, nothing runs on it.
        still_open = driver is None or bool(driver.in_transaction)
    except Exception:  # a closed connection: reset as the pool would
        still_open = True
    if still_open:
        dbapi_connection.rollback()


def core_table(model: type[DeclarativeBase]) -> Table:
    """A mapped class's table, for Core statements that skip the ORM's per-row work."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


class Database:
    """The engine plus the single-writer rule: every write transaction is serialised.

    Concurrent SQLite writers make commit latency explode on lock retries; one
    writer at a time keeps each commit short and ordered. A new alarm's write is
    urgent: it goes ahead of every other write waiting for its turn.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self._sessions = session_factory(self.engine)
        self._turns = WriterTurns()

    @asynccontextmanager
    async def write(self, *, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """A transaction that commits on success and rolls back on any error."""
        async with self._turns.turn(urgent=urgent), self._sessions() as session, session.begin():
            yield session

    @property
    def writes_waiting(self) -> int:
        return self._turns.waiting

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
