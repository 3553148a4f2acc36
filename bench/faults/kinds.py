"""The six faults: what each does to the hub or its database, and when it is over.

Each returns its window in monotonic nanoseconds: from the moment the fault began to
the moment the cause was gone (the hub listening again, PostgreSQL accepting again,
space back on the disk). Recovery is measured from the end of that window.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.faults.stage import Stage
from tests.support.small_disk import DiskFiller


@dataclass(frozen=True)
class Window:
    start_ns: int
    end_ns: int

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


@dataclass(frozen=True)
class Fault:
    name: str
    database: str  # the kind of database the round's stage needs (bench/faults/stage.py)
    inject: Callable[[Stage, float], Awaitable[Window]]  # (stage, seconds the fault lasts)
    what: str


async def _hub_back(stage: Stage) -> int:
    stage.hub.start()
    await stage.hub.wait_ready()
    return time.monotonic_ns()


async def kill(stage: Stage, _seconds: float) -> Window:
    """SIGKILL, as in a crash or a power cut, and the service manager's restart at once."""
    start = time.monotonic_ns()
    await asyncio.to_thread(stage.hub.kill)
    return Window(start, await _hub_back(stage))


async def stop(stage: Stage, seconds: float) -> Window:
    """SIGSTOP: a frozen hub whose sockets stay open (a VM paused, a swap storm), then SIGCONT."""
    start = time.monotonic_ns()
    os.kill(stage.hub.pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds)
    finally:
        os.kill(stage.hub.pid, signal.SIGCONT)
    return Window(start, time.monotonic_ns())


async def pg_restart(stage: Stage, seconds: float) -> Window:
    """PostgreSQL stopped (fast shutdown, as by the service manager) and started again."""
    assert stage.pg is not None
    start = time.monotonic_ns()
    await asyncio.to_thread(stage.pg.stop)
    await asyncio.sleep(seconds)
    await asyncio.to_thread(stage.pg.start)  # pg_ctl -w: returns once it accepts connections
    return Window(start, time.monotonic_ns())


async def pg_failover(stage: Stage, _seconds: float) -> Window:
    """The primary crashes (immediate stop) and the standby is promoted, as Patroni does."""
    assert stage.pg_pair is not None
    start = time.monotonic_ns()
    await asyncio.to_thread(stage.pg_pair.kill_primary)
    await asyncio.to_thread(stage.pg_pair.promote_standby)  # returns once it takes writes
    return Window(start, time.monotonic_ns())


async def full_disk(stage: Stage, seconds: float) -> Window:
    """The hub's disk filled to the last block and kept full, then the filler deleted."""
    filler = DiskFiller(stage.hub.data_dir)
    start = time.monotonic_ns()
    await asyncio.to_thread(filler.__enter__)  # returns once the disk is full
    try:
        await asyncio.sleep(seconds)
    finally:
        await asyncio.to_thread(filler.stop)
    return Window(start, time.monotonic_ns())


async def unreachable(stage: Stage, seconds: float) -> Window:
    """No hub at all for a while (stopped, as for an upgrade), then started again."""
    start = time.monotonic_ns()
    await asyncio.to_thread(stage.hub.stop)
    await asyncio.sleep(seconds)
    return Window(start, await _hub_back(stage))


FAULTS = {
    f.name: f
    for f in (
        Fault("kill", "sqlite", kill, "hub SIGKILL during the burst, restarted at once"),
        Fault("stop", "sqlite", stop, "hub SIGSTOP for --stop-seconds, then SIGCONT"),
        Fault("pg-restart", "postgres", pg_restart, "PostgreSQL down for --down-seconds"),
        Fault("pg-failover", "postgres-standby", pg_failover, "primary killed, standby promoted"),
        Fault("disk", "small-disk", full_disk, "the hub's disk full for --down-seconds"),
        Fault("unreachable", "sqlite", unreachable, "hub stopped for --down-seconds"),
    )
}
