"""Whether the hub can store: a write failed on a full or broken disk, until a write succeeds.

``Database.write`` reports every write's outcome here. A write that failed
because the disk is full or gave an I/O error makes the store "cannot store"
(the alarm's raiser gets ``error: internal`` and re-sends); a full disk also
releases the disk reserve (``dispatch.store.disk_reserve``) and has the WAL
emptied, so the re-sent alarms find space. While not ready, a watch tries a
small write every ``WATCH_INTERVAL_S`` once the disk has some room (nobody else
may be writing) and makes the reserve again once there is room for it: the
store recovers by itself when space is back, without a restart. Listeners (the
hub: consoles, agents, /readyz) hear every change of the state.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum

import structlog

from dispatch.store.disk_reserve import DiskReserve, free_bytes

log = structlog.get_logger(__name__)

WATCH_INTERVAL_S = 0.5
"""While the store is not ready, its write is tried and its reserve made this often."""
NEARLY_FULL_BYTES = 64 * 1024
"""Less free than this the disk counts as full. An I/O error then is a full disk (SQLite
reports one when it cannot grow its -shm file, opening the store after a restart on a
full disk), and a write that succeeds does not end "cannot store": it found room in the
WAL a failed write had grown, which the next alarm (~45 KB of WAL) will not find."""

_SQLITE_FULL, _SQLITE_IOERR = 13, 10  # primary result codes (extended codes keep them low)
_PG_DISK_FULL, _PG_IO_ERROR = "53100", "58030"  # SQLSTATE: disk_full, io_error


class StoreProblem(StrEnum):
    """Why the store is not ready; the values travel to consoles and agents."""

    DISK_FULL = "disk_full"  # a write failed: no space left
    IO_ERROR = "io_error"  # a write failed: the disk reported an error
    NO_RESERVE = "no_reserve"  # writes succeed, on the space the reserve gave up


@dataclass(frozen=True)
class StoreState:
    failure: StoreProblem | None = None  # the last write failed so (None: it succeeded)
    reserve_held: bool = True

    @property
    def can_store(self) -> bool:
        return self.failure is None

    @property
    def ready(self) -> bool:
        """Stores, with the reserve in hand for the next full disk."""
        return self.can_store and self.reserve_held

    @property
    def problem(self) -> StoreProblem | None:
        if self.failure is not None:
            return self.failure
        return None if self.reserve_held else StoreProblem.NO_RESERVE


def storage_failure(error: BaseException) -> StoreProblem | None:
    """A full disk or an I/O error behind ``error`` (SQLAlchemy wraps the driver's); None
    for anything else (a refused alarm, a constraint, a lock)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, sqlite3.Error):
            code = (getattr(seen, "sqlite_errorcode", 0) or 0) & 0xFF
            if code == _SQLITE_FULL:
                return StoreProblem.DISK_FULL
            if code == _SQLITE_IOERR:
                return StoreProblem.IO_ERROR
        state = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        if state == _PG_DISK_FULL:
            return StoreProblem.DISK_FULL
        if state == _PG_IO_ERROR:
            return StoreProblem.IO_ERROR
        if isinstance(seen, OSError) and seen.errno == 28:  # ENOSPC from a file of ours
            return StoreProblem.DISK_FULL
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


class StoreHealth:
    """The store's state, the reserve, and the watch that brings both back."""

    def __init__(
        self,
        reserve: DiskReserve | None,
        probe: Callable[[], Awaitable[None]],
        shrink: Callable[[], None],
    ) -> None:
        self._reserve = reserve
        self._probe = probe  # one small write through the single writer
        self._shrink = shrink  # empty the WAL at the next checkpoint
        self.state = StoreState()
        self.listeners: list[Callable[[StoreState], None]] = []
        self._watch: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Makes the reserve; without room for it the hub starts, not ready."""
        if self._reserve is not None:
            self._set(replace(self.state, reserve_held=self._reserve.make()))

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None

    def write_failed(self, error: BaseException) -> None:
        """A write, or opening the store, failed: a full or broken disk makes the store
        "cannot store"; any other error (a refused alarm, a constraint) changes nothing."""
        failure = storage_failure(error)
        if failure is None:
            return
        if failure is StoreProblem.IO_ERROR and self._nearly_full():
            failure = StoreProblem.DISK_FULL
        if failure is StoreProblem.DISK_FULL and self._reserve is not None:
            self._reserve.release()
        held = self._reserve.held if self._reserve is not None else True
        self._shrink()
        self._set(StoreState(failure=failure, reserve_held=held))

    def _nearly_full(self) -> bool:
        if self._reserve is None:
            return False
        try:
            return free_bytes(self._reserve.path.parent) < NEARLY_FULL_BYTES
        except OSError:
            return False

    def write_succeeded(self) -> None:
        if self.state.failure is StoreProblem.DISK_FULL and self._nearly_full():
            return  # still full: see NEARLY_FULL_BYTES
        if self.state.failure is not None:
            self._shrink()  # the WAL a full disk left long goes back to nothing
            self._set(replace(self.state, failure=None))

    def _set(self, state: StoreState) -> None:
        if state == self.state:
            return
        previous, self.state = self.state, state
        report = log.info if state.ready else log.error
        report("store_state", problem=state.problem, was=previous.problem)
        if not state.ready and self._watch is None:
            self._watch = asyncio.get_running_loop().create_task(self._watching(), name="store")
        for listener in self.listeners:
            listener(state)

    async def _watching(self) -> None:
        try:
            while not self.state.ready:
                await asyncio.sleep(WATCH_INTERVAL_S)
                if self._reserve is not None and not self.state.reserve_held:
                    self._set(replace(self.state, reserve_held=self._reserve.make()))
                if self.state.failure is not None and not self._nearly_full():
                    with contextlib.suppress(Exception):  # reported by Database.write
                        await self._probe()
        finally:
            self._watch = None
