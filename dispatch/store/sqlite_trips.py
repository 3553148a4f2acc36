"""SQLite: a read, or several writes and the COMMIT, in one trip to aiosqlite's thread.

aiosqlite runs every call on a thread of its own and hands the result back to the
event loop; through SQLAlchemy's async cursor one statement costs about three such
trips, and each waits for the busy loop to take its result back (the popups it sent
and the receipts coming in). A group commit of its five statements took 15 trips and
most of the raiser's stored-ack time (docs/performance.md, "Step 4"). Here the writes
run on that thread through a synchronous SQLAlchemy ``Connection`` over the same
sqlite3 connection, inside the transaction the session opened (``BEGIN IMMEDIATE``),
and commit there: one trip, with SQLAlchemy's own type handling and defaults.
"""

from __future__ import annotations

import sqlite3
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import aiosqlite
from sqlalchemy import Engine, Executable, create_engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import StaticPool

COMMIT_SECONDS = "dispatch.store.sqlite_trips.commit_seconds"
"""Key in ``Session.info``: how long the trip's COMMIT took. ``Database.write`` records it as
the transaction's commit (the session's own commit afterwards has nothing to do)."""

Write = tuple[Executable, Sequence[Mapping[str, Any]]]
"""A Core statement and its rows (an executemany); a statement without rows is skipped."""

# One synchronous engine per aiosqlite connection, which only ever hands out that
# connection's sqlite3 connection; it lives as long as the aiosqlite connection.
_ENGINES: weakref.WeakKeyDictionary[aiosqlite.Connection, Engine] = weakref.WeakKeyDictionary()


async def driver_of(session: AsyncSession) -> aiosqlite.Connection:
    """The aiosqlite connection under the session's (SQLite) connection."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert isinstance(driver, aiosqlite.Connection), "an SQLite session runs on aiosqlite"
    return driver


async def read(session: AsyncSession, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of one plain-SQL read (``?`` placeholders) in the session's transaction:
    one trip. For values SQLite returns as they are (numbers, text), no type handling."""
    driver = await driver_of(session)
    return [tuple(row) for row in await driver.execute_fetchall(sql, parameters)]


async def write_and_commit(session: AsyncSession, writes: Sequence[Write]) -> None:
    """Runs ``writes`` in order and commits the session's transaction, in one trip.

    The session's own commit afterwards finds nothing open (a no-op in sqlite3). A
    failed statement or commit rolls the transaction back there and raises here, as
    the session would have.
    """
    driver = await driver_of(session)
    engine = _ENGINES.get(driver)
    if engine is None:
        engine = _ENGINES[driver] = _engine_over(driver)
    # aiosqlite's queue of calls for its thread: its public methods put one statement
    # each on it; this puts the whole batch (tests/storage/test_sqlite_trips.py holds
    # it to one trip, and fails if aiosqlite drops the method).
    took: float = await driver._execute(_run, engine, writes)  # type: ignore[no-untyped-call]
    session.info[COMMIT_SECONDS] = took


def _engine_over(driver: aiosqlite.Connection) -> Engine:
    # A weak reference: the engine is the value of the driver's own entry in _ENGINES,
    # which a strong one would keep alive after the pool has dropped the driver.
    driver_ref = weakref.ref(driver)

    def the_connection() -> sqlite3.Connection:
        alive = driver_ref()
        assert alive is not None, "called from the driver's own thread while it runs"
        return alive._conn  # called on aiosqlite's thread, the connection's own

    # No reset on return: the batch has committed (or rolled back) before it returns.
    return create_engine(
        "sqlite://", creator=the_connection, poolclass=StaticPool, pool_reset_on_return=None
    )


def _run(engine: Engine, writes: Sequence[Write]) -> float:
    """The writes and the COMMIT; returns the seconds the COMMIT (on SQLite, the fsync) took."""
    with engine.connect() as connection:
        try:
            for statement, rows in writes:
                if rows:
                    connection.execute(statement, list(rows))
            committing = time.perf_counter()
            connection.commit()
            return time.perf_counter() - committing
        except BaseException:
            connection.rollback()
            raise
