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
"""SQLite's default, given back to the hub's connections if background checkpoints fail."""


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

    Should the task fail, the hub's connections get SQLite's automatic checkpoint
    back (and the error is logged), so the WAL never grows without bound.
    """

    def __init__(self, path: str, engine: AsyncEngine, turns: WriterTurns) -> None:
        self._path = path
        self._engine = engine
        self._turns = turns
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.failed = False
        self.passes = 0
        """Checkpoint passes run so far (the tests read them)."""

    def committed(self) -> None:
        """Called after each commit: no I/O, the task does the checkpoint later."""
        self._dirty.set()
        if self._task is None and not self.failed:
            self._task = asyncio.create_task(self._run(), name="wal-checkpoints")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        try:
            # aiosqlite: the connection's own thread, so the writer's is never held.
            async with aiosqlite.connect(self._path) as connection:
                while True:
                    await self._dirty.wait()
                    await asyncio.sleep(CHECKPOINT_INTERVAL_S)  # this interval's commits too
                    self._dirty.clear()
                    await self._checkpoint(connection)
        except Exception:
            log.exception("wal_checkpoints_failed", fallback="sqlite autocheckpoint")
            self._fall_back()

    async def _checkpoint(self, connection: aiosqlite.Connection) -> None:
        frames = await self._passive(connection)
        if frames >= CHECKPOINT_RESTART_FRAMES:
            async with self._turns.turn():  # no write in between: the next one restarts the WAL
                await self._passive(connection)

    async def _passive(self, connection: aiosqlite.Connection) -> int:
        """One PASSIVE checkpoint; returns the WAL's length in frames when it began."""
        async with connection.execute("PRAGMA wal_checkpoint(PASSIVE)") as cursor:
            row = await cursor.fetchone()
        assert row is not None, "PRAGMA wal_checkpoint returns one row"
        self.passes += 1
        return int(row[1])

    def _fall_back(self) -> None:
        """Every connection of the engine checkpoints in its own commits again, as by default."""
        self.failed = True

        def restore(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
            if not record.info.get("autocheckpoint_restored"):
                set_autocheckpoint(dbapi_connection, SQLITE_AUTOCHECKPOINT_FRAMES)
                record.info["autocheckpoint_restored"] = True

        event.listen(self._engine.sync_engine, "checkout", restore)
