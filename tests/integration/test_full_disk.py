"""Issue 16 at hub level: a full disk is told, never hidden, and the hub recovers by itself.

The hub's SQLite file lies on a real 8 MB tmpfs that a filler keeps full
(tests/support/small_disk.py); the hub, its consoles and agents are real processes
and sockets. The person-level proofs (the real agent on Xvfb, the console in
Chromium) are in tests/e2e/test_full_disk_seen.py.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from shared.domain import AlarmLevel, Trigger
from shared.protocol import AlarmStored, Error, ErrorCode, RaiseAlarm, StoreStatus, utc_now
from tests.support.hub import RunningHub, start_demo_hub
from tests.support.small_disk import DiskFiller, small_disk
from tests.support.syncclient import ConsoleSocket, TestAgent
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(60)

RESERVE = 1024 * 1024
"""The test hub's disk reserve (SILENT_ALARM_DISK_RESERVE_BYTES): 1 MiB of the 8 MB disk."""


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "disk") as mounted:
        yield mounted


def start_hub(data_dir: Path, disk: Path) -> RunningHub:
    """The demo hub with its SQLite file on the small disk (its logs and keys elsewhere)."""
    return start_demo_hub(
        data_dir,
        env={
            "SILENT_ALARM_DATABASE_URL": f"sqlite+aiosqlite:///{disk / 'dispatch.sqlite3'}",
            "SILENT_ALARM_DISK_RESERVE_BYTES": str(RESERVE),
            "SILENT_ALARM_HEARTBEAT_INTERVAL": "1",
        },
    )


@pytest.fixture
def hub(tmp_path: Path, disk: Path) -> Iterator[RunningHub]:
    running = start_hub(tmp_path / "hub", disk)
    yield running
    running.stop()


def readiness(hub: RunningHub) -> tuple[int, dict[str, object]]:
    response = httpx.get(f"{hub.url}/readyz", timeout=5)
    return response.status_code, response.json()


def raise_alarm(agent: TestAgent, alarm_id: uuid.UUID) -> RaiseAlarm:
    """Sends (or re-sends, same id) an alarm, as the agent's outbox does."""
    message = RaiseAlarm(
        alarm_id=alarm_id, level=AlarmLevel.THREAT, trigger=Trigger.HOTKEY, raised_at=utc_now()
    )
    agent.send(message)
    return message


def refused(agent: TestAgent, message: RaiseAlarm) -> Error:
    return agent.expect(Error, lambda e: e.reply_to == message.id, timeout=10)


def stored_count(disk: Path, alarm_id: uuid.UUID) -> int:
    with contextlib.closing(sqlite3.connect(disk / "dispatch.sqlite3", timeout=5)) as db:
        row = db.execute("SELECT count(*) FROM alarms WHERE id = ?", (str(alarm_id),)).fetchone()
    return int(row[0])


def wal_size(disk: Path) -> int:
    wal = disk / "dispatch.sqlite3-wal"
    return wal.stat().st_size if wal.exists() else 0


def replying_to(message: RaiseAlarm) -> Callable[[AlarmStored], bool]:
    return lambda stored: stored.reply_to == message.id


def store_within(agent: TestAgent, alarm_id: uuid.UUID, seconds: float) -> float:
    """Re-sends every 0.25 s (the agent's backoff is similar) until stored; returns when."""
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        with contextlib.suppress(AssertionError):  # refused again (an Error): try again
            agent.expect(AlarmStored, replying_to(raise_alarm(agent, alarm_id)), timeout=0.25)
            return elapsed
        time.sleep(0.25)
    raise AssertionError(f"alarm {alarm_id} not stored within {seconds} s of the space coming back")


def test_a_full_disk_is_told_to_everyone_and_the_hub_recovers_without_a_restart(
    hub: RunningHub, disk: Path
) -> None:
    login = hub.login
    assert readiness(hub) == (
        200,
        {"status": "ready", "version": readiness(hub)[1]["version"], "problems": []},
    )
    assert (disk / "dispatch.sqlite3.reserve").stat().st_size == RESERVE
    console = ConsoleSocket(hub, login.username, login.password)
    raiser = TestAgent(hub, "pc-1-01")
    try:
        with DiskFiller(disk) as filler:
            # The alarm is refused, not lost silently: the raiser gets "internal", re-sends.
            # Everyone is told: the agent (not protected), the console (banner), /readyz.
            first = raise_alarm(raiser, uuid.uuid4())
            told = raiser.expect(StoreStatus, lambda s: not s.can_store)  # before the refusal
            assert told.problem == "disk_full"
            assert refused(raiser, first).code is ErrorCode.INTERNAL
            assert console.expect(StoreStatus, lambda s: not s.can_store).problem == "disk_full"
            status, body = readiness(hub)
            assert (status, body["problem"]) == (503, "disk_full")
            assert "cannot store" in str(body["reason"])
            assert httpx.get(f"{hub.url}/healthz", timeout=5).status_code == 200  # liveness
            # The reserve was given up for the checkpoint and the alarms (the filler took it).
            assert not (disk / "dispatch.sqlite3.reserve").exists()
            # An agent connecting now hears it right after its welcome.
            late = TestAgent(hub, "pc-1-05")
            assert late.expect(StoreStatus).can_store is False
            late.close()
            # The re-sent alarm is refused again while the disk stays full.
            again = raise_alarm(raiser, first.alarm_id)
            assert refused(raiser, again).code is ErrorCode.INTERNAL
            full_wal = wal_size(disk)
            filler.stop()  # an admin freed space; the hub is not restarted
            # The re-sent alarm is stored within 5 s, exactly once.
            elapsed = store_within(raiser, first.alarm_id, 5.0)
        print(f"stored {elapsed:.2f} s after the space came back; WAL when full: {full_wal} B")
        assert stored_count(disk, first.alarm_id) == 1
        # The next new alarm is stored at once.
        fresh = raise_alarm(raiser, uuid.uuid4())
        raiser.expect(AlarmStored, lambda s: s.reply_to == fresh.id)
        # Everyone is told it is over; /readyz turns 200 with the reserve made again.
        assert raiser.expect(StoreStatus, lambda s: s.can_store and s.problem is None)
        assert console.expect(StoreStatus, lambda s: s.can_store and s.problem is None)
        wait_until(lambda: readiness(hub)[0] == 200, timeout=5, what="/readyz 200")
        assert (disk / "dispatch.sqlite3.reserve").stat().st_size == RESERVE
        # The WAL the full disk left is emptied, not left to grow.
        wait_until(lambda: wal_size(disk) < 64 * 1024, timeout=5, what="WAL back to small")
    finally:
        raiser.close()
        console.close()


def test_the_reserve_lets_the_resent_alarm_be_stored_while_the_disk_stays_full(
    hub: RunningHub, disk: Path
) -> None:
    """Nothing takes the space the reserve gives back: the raiser's re-send is stored on it,
    and the hub stays not ready (problem no_reserve) until an admin frees space."""
    raiser = TestAgent(hub, "pc-1-01")
    try:
        with DiskFiller(disk) as filler:
            filler.stop_filling()
            first = raise_alarm(raiser, uuid.uuid4())
            assert refused(raiser, first).code is ErrorCode.INTERNAL
            # The hub's own probe write finds the reserve's space: it can store again.
            assert raiser.expect(StoreStatus, lambda s: s.can_store).problem == "no_reserve"
            store_within(raiser, first.alarm_id, 5.0)
            status, body = readiness(hub)
            assert (status, body["problem"]) == (503, "no_reserve")
            # Measured: how much of the 1 MiB reserve one alarm took (WAL frames).
            print(f"WAL after one alarm on the reserve: {wal_size(disk)} B")
        wait_until(lambda: readiness(hub)[0] == 200, timeout=5, what="/readyz 200")
        assert (disk / "dispatch.sqlite3.reserve").stat().st_size == RESERVE
    finally:
        raiser.close()


def test_a_hub_restarted_on_a_full_disk_starts_and_is_not_ready(
    tmp_path: Path, hub: RunningHub, disk: Path
) -> None:
    """SQLite cannot even open its -shm file on the full disk: the hub still starts
    (/healthz answers), says why it is not ready, and recovers once space is back."""
    raiser = TestAgent(hub, "pc-1-01")
    with DiskFiller(disk):
        first = raise_alarm(raiser, uuid.uuid4())
        assert refused(raiser, first).code is ErrorCode.INTERNAL
        raiser.close()
        hub.stop()
        restarted = start_hub(tmp_path / "hub", disk)  # returns once /healthz answers
        try:
            status, body = readiness(restarted)
            assert (status, body["problem"]) == (503, "disk_full"), body
            assert restarted.process.poll() is None  # running, not crashed
        except BaseException:
            restarted.stop()
            raise
    try:
        wait_until(lambda: readiness(restarted)[0] == 200, timeout=5, what="/readyz 200")
        raiser = TestAgent(restarted, "pc-1-01")
        store_within(raiser, first.alarm_id, 5.0)  # the agent's re-send after its reconnect
        assert stored_count(disk, first.alarm_id) == 1
    finally:
        raiser.close()
        restarted.stop()
