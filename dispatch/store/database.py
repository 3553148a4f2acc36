"""Creates the async engine; SQLite gets WAL, full fsync and foreign keys on every connection.

Also the single writer (``Database.write``, ``BEGIN IMMEDIATE`` on SQLite); the hub's
WAL checkpoints off the commit path are in ``dispatch.store.wal_checkpoints``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Executable, Row, Table, event, make_url, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState

from dispatch.runtime.metrics import Metrics
from dispatch.store.audit_key import AUDIT_KEY
from dispatch.store.disk_reserve import DiskReserve
from dispatch.store.sqlite_trips import COMMIT_SECONDS
from dispatch.store.store_health import StoreHealth
from dispatch.store.wal_checkpoints import WalCheckpoints, set_autocheckpoint
from dispatch.store.writer_turns import WriterTurns


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL; None for an in-memory database."""
    database = make_url(url).database
    return database if database and database != ":memory:" else None


def create_engine(url: str, *, checkpoint_in_background: bool = False) -> AsyncEngine:
    """``checkpoint_in_background``: SQLite never checkpoints inside this engine's commits
    (``WalCheckpoints`` does it); only for the hub, whose ``Database`` runs that task."""
    if not is_sqlite(url):
        return create_async_engine(url, pool_pre_ping=True)
    # The pool's reset is ours (_rollback_if_open): its own would send a ROLLBACK
    # after every commit, one more trip to aiosqlite's thread for nothing.
    engine = create_async_engine(url, pool_reset_on_return=None)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    if checkpoint_in_background:
        event.listen(engine.sync_engine, "connect", _no_autocheckpoint)
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


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    # SQLite's automatic checkpoint runs inside the commit that passes 1,000 WAL
    # pages: about one alarm commit in 70 waited 10-15 ms for it.
    set_autocheckpoint(dbapi_connection, 0)


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


async def _begin_immediate(session: AsyncSession) -> None:
    """Opens the session's SQLite transaction with the write lock taken: BEGIN IMMEDIATE.

    Python's sqlite3 (legacy transaction control) sends its own BEGIN only before
    the first INSERT, UPDATE or DELETE, so a write transaction's first reads ran
    outside it, and another process could commit between a read and the write
    built on it: two writers appending to the same audit head fork the chain.
    An explicit BEGIN keeps sqlite3 from sending its own, and its COMMIT and
    ROLLBACK end this transaction as before. Sent straight to aiosqlite: one trip
    to its thread, where a statement through SQLAlchemy's cursor costs three.
    """
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None, "a checked-out connection has its driver connection"
    await driver.execute("BEGIN IMMEDIATE")


def core_table(model: type[DeclarativeBase]) -> Table:
    """A mapped class's table, for Core statements that skip the ORM's per-row work."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def session_factory(
    engine: AsyncEngine, info: dict[str, object] | None = None
) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, info=info or {})


# The store's health probe: a real write that changes nothing in the end. Two statements,
# since SQLite writes no page for an UPDATE that leaves the row as it was.
_PROBE = (
    text("UPDATE alembic_version SET version_num = version_num || ' '"),
    text("UPDATE alembic_version SET version_num = rtrim(version_num)"),
)


class Database:
    """The engine plus the single-writer rule: every write transaction is serialised.

    Concurrent SQLite writers make commit latency explode on lock retries; one
    writer at a time keeps each commit short and ordered. A new alarm's write is
    urgent: it goes ahead of every other write waiting for its turn. The hub
    passes ``checkpoint_in_background``: on SQLite its commits then leave the
    WAL's checkpoint to ``WalCheckpoints``. Other processes (the CLI) keep SQLite's own.

    ``health`` follows whether writes succeed (``dispatch.store.store_health``); the hub
    passes ``reserve_bytes``, kept free beside its SQLite file for a full disk.
    """

    def __init__(
        self,
        url: str,
        *,
        checkpoint_in_background: bool = False,
        audit_key: bytes | None = None,
        reserve_bytes: int = 0,
        metrics: Metrics | None = None,
    ) -> None:
        self.url = url
        self._commit_seconds = metrics.db_commit_seconds if metrics is not None else None
        self._sqlite = is_sqlite(url)
        path = sqlite_file(url) if self._sqlite and checkpoint_in_background else None
        self.engine = create_engine(url, checkpoint_in_background=path is not None)
        # Every session carries the audit key, so no write path can append unkeyed events;
        # None (tests, tools that never write) hashes without a key.
        self._sessions = session_factory(self.engine, {AUDIT_KEY: audit_key} if audit_key else {})
        self._turns = WriterTurns()
        self.checkpoints = WalCheckpoints(path, self.engine, self._turns) if path else None
        reserve = DiskReserve(Path(path), reserve_bytes) if path else None  # size 0: none
        self.health = StoreHealth(reserve, self._probe, self._shrink_wal)

    @asynccontextmanager
    async def write(self, *, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """A transaction that commits on success and rolls back on any error.

        On SQLite it holds the database's write lock from its first statement on,
        so what it reads (the audit chain's head) cannot change under it, not even
        by another process. PostgreSQL writers lock what they need themselves
        (``AuditTrail.lock``).
        """
        try:
            async with self._turns.turn(urgent=urgent):
                async with self._sessions() as session, session.begin():
                    if self._sqlite:
                        await _begin_immediate(session)
                    yield session
                    committing = time.perf_counter()
                if self._commit_seconds is not None:  # committed
                    # A batch that committed in its own trip (sqlite_trips) says how long
                    # that took; the session's commit after it had nothing left to do.
                    took = session.info.pop(COMMIT_SECONDS, None)
                    self._commit_seconds.observe(
                        took if took is not None else time.perf_counter() - committing
                    )
                if self.checkpoints is not None:
                    self.checkpoints.committed()
        except Exception as failed:
            self.health.write_failed(failed)  # only a full or broken disk counts
            raise
        self.health.write_succeeded()

    async def _probe(self) -> None:
        async with self.write() as session:
            for statement in _PROBE:
                await session.execute(statement)

    def _shrink_wal(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.shrink()

    @property
    def writes_waiting(self) -> int:
        return self._turns.waiting

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    async def rows(
        self, statement: Executable, parameters: Mapping[str, Any]
    ) -> Sequence[Row[Any]]:
        """The rows of one read statement, on a pooled connection without a session.

        For the reads every handshake makes (thousands at once after a hub
        restart): without the ORM's per-statement work a read costs about a
        third less. Pass a statement built once, with its varying values as
        bound parameters, so SQLAlchemy finds it in its cache without
        re-deriving its cache key.
        """
        async with self.engine.connect() as connection:
            return (await connection.execute(statement, parameters)).all()

    @property
    def is_sqlite(self) -> bool:
        return self._sqlite

    async def sqlite_rows(self, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        """SQLite only: the rows of one read in a single trip to aiosqlite's thread.

        Through SQLAlchemy's cursor a statement costs three trips, each waiting for
        the GIL to hand back its result: on a busy machine about 1.7 ms for one
        indexed read, which an alarm's popups waited for (docs/performance.md,
        "Step 2"). Plain SQL with ``?`` placeholders, on a pooled connection.
        """
        async with self.engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None, "a checked-out connection has its driver connection"
            return [tuple(row) for row in await driver.execute_fetchall(sql, parameters)]

    async def dispose(self) -> None:
        await self.health.stop()
        if self.checkpoints is not None:
            await self.checkpoints.stop()
        await self.engine.dispose()
