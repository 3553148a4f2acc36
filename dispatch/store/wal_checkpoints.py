"""The hub's SQLite WAL checkpoints, from a connection and thread of their own.

SQLite's automatic checkpoint runs inside the commit that passes 1,000 WAL
pages: about one alarm commit in 70 waited 10-15 ms for it. The hub's
connections do not checkpoint (``wal_autocheckpoint=0``, see
``dispatch.store.database``); this task does, after commits.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiosqlite
import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry

from dispatch.store.writer_turns import WriterTurns

log = structlog.get_logger(__name__)

CHECKPOINT_INTERVAL_S = 1.0
"""The hub checkpoints SQLite's WAL at most this often, and only after commits."""
CHECKPOINT_RESTART_FRAMES = 1000
"""A WAL this long after a checkpoint (~4 MB) is started afresh: see ``WalCheckpoints``."""
SQLITE_AUTOCHECKPOINT_FRAMES = 1000
"""SQLite's default, given back to the hub's connections while background checkpoints fail."""
RETRY_FIRST_S = 0.25
RETRY_MAX_S = 5.0
"""A failed pass is tried again after 0.25 s, doubling up to this: a disk that has space
again is checkpointed within 5 s, and a broken one costs one attempt every 5 s."""


def set_autocheckpoint(dbapi_connection: Any, frames: int) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA wal_autocheckpoint={int(frames)}")
    cursor.close()


class WalCheckpoints:
    """Checkpoints a SQLite WAL from a connection and thread of its own, after commits.

    The hub's connections do not checkpoint (``wal_autocheckpoint=0``), so their
    commits never copy the WAL into the database file; this task does, at most
    every ``CHECKPOINT_INTERVAL_S`` and only when something was committed, with a
    PASSIVE checkpoint that neither waits for nor blocks the writer.

    The WAL starts from its beginning again only when a write begins with every
    frame copied. A writer that never pauses (a burst) always finds a few frames
    it committed during the checkpoint, and the WAL would grow without end. So
    when it is longer than ``CHECKPOINT_RESTART_FRAMES``, a second PASSIVE pass
    runs in the writer's turn: it copies only those few frames, and the next
    write starts the WAL afresh. That pass holds the writer for one short
    checkpoint (a few pages and an fsync), not the ~1,000 pages of SQLite's own.

    A failed pass (SQLITE_FULL, a disk I/O error) never ends the task: it opens
    its connection afresh and tries again after ``RETRY_FIRST_S``, doubling up to
    ``RETRY_MAX_S``, until a pass succeeds, and a pass after a failure (or after
    ``shrink``) is a TRUNCATE in the writer's turn, which empties the WAL file:
    after a full disk the space the WAL took comes back at once.

    While passes fail, the hub's connections get SQLite's automatic checkpoint
    back, and lose it with the first pass that succeeds. On a full or broken disk
    that changes nothing (SQLite ignores a failed automatic checkpoint; the commit
    stands), but when only this task is broken (its connection cannot be opened,
    a bug) the writer's own checkpoints keep the WAL bounded. The price, a commit
    in 70 waiting 10-15 ms, is paid only while the task fails.
    """

    def __init__(self, path: str, engine: AsyncEngine, turns: WriterTurns) -> None:
        self._path = path
        self._turns = turns
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._truncate = False  # the next pass empties the WAL file (after a failure)
        self.failing = False
        """The last pass failed; the connections checkpoint in their commits meanwhile."""
        self.passes = 0
        """Checkpoint passes run so far (the tests read them)."""
        self.failures = 0
        """Passes failed so far."""
        event.listen(engine.sync_engine, "checkout", self._autocheckpoint_while_failing)

    def committed(self) -> None:
        """Called after each commit: no I/O, the task does the checkpoint later."""
        self._dirty.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="wal-checkpoints")

    def shrink(self) -> None:
        """Empty the WAL file at the next pass (a write failed: the disk may be full)."""
        self._truncate = True
        self.committed()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = RETRY_FIRST_S
        while True:
            try:
                # aiosqlite: the connection's own thread, so the writer's is never held.
                async with aiosqlite.connect(self._path) as connection:
                    while True:
                        await self._dirty.wait()
                        if not (self.failing or self._truncate):  # those are owed at once
                            await asyncio.sleep(CHECKPOINT_INTERVAL_S)  # this interval's commits
                        self._dirty.clear()
                        await self._checkpoint(connection)
                        delay = RETRY_FIRST_S
            except Exception:
                self.failures += 1
                if not self.failing:
                    log.exception("wal_checkpoints_failed", fallback="sqlite autocheckpoint")
                    self.failing = True
                self._truncate = True
                self._dirty.set()  # the failed pass is owed
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    async def _checkpoint(self, connection: aiosqlite.Connection) -> None:
        if self._truncate:
            async with self._turns.turn():  # TRUNCATE waits for the writer: let none start
                busy = await self._pass(connection, "TRUNCATE")
            self._truncate = busy == 1  # a reader held on to the WAL: try again next time
        elif await self._pass(connection, "PASSIVE") >= CHECKPOINT_RESTART_FRAMES:
            async with self._turns.turn():  # no write in between: the next one restarts the WAL
                await self._pass(connection, "PASSIVE")
        if self.failing:
            log.info("wal_checkpoints_recovered", failures=self.failures)
            self.failing = False

    async def _pass(self, connection: aiosqlite.Connection, mode: str) -> int:
        """One checkpoint; PASSIVE returns the WAL's length in frames when it began,
        TRUNCATE whether it could not finish (1: busy)."""
        async with connection.execute(f"PRAGMA wal_checkpoint({mode})") as cursor:
            row = await cursor.fetchone()
        assert row is not None, "PRAGMA wal_checkpoint returns one row"
        self.passes += 1
        return int(row[0] if mode == "TRUNCATE" else row[1])

    def _autocheckpoint_while_failing(
        self, dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any
    ) -> None:
        """At checkout: SQLite's own checkpoint while passes fail, none otherwise.

        Only a change costs a statement; a dictionary look-up otherwise.
        """
        frames = SQLITE_AUTOCHECKPOINT_FRAMES if self.failing else 0
        if record.info.get("autocheckpoint", 0) != frames:
            set_autocheckpoint(dbapi_connection, frames)
            record.info["autocheckpoint"] = frames
