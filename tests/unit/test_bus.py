"""The bus between hub instances: its wire form, own-event filtering, and a real LISTEN/NOTIFY.

The PostgreSQL cases run against the real server on 127.0.0.1:5432, each in a database
of its own; a dropped listening connection is made by terminating its backend, as an
administrator or a failover would.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]  # ships no type hints
import pytest

from dispatch.audit import AuditTrail
from dispatch.bus import (
    MAX_PAYLOAD_BYTES,
    AlarmChanged,
    AlarmEscalated,
    AlarmStored,
    BusEvent,
    LocalBus,
    PostgresBus,
    Resync,
    WorkstationChanged,
    WorkstationRevoked,
    accept,
    asyncpg_dsn,
    create_bus,
    decode,
    encode,
)
from dispatch.database import Database
from dispatch.migrate import upgrade
from tests.support.postgres import (
    POSTGRES_ADMIN_DSN,
    create_database,
    drop_database,
    sqlalchemy_url,
)

ALARM = uuid.UUID("6f1d2c3b-0000-4000-8000-000000000001")


# --- wire form ------------------------------------------------------------------------


def test_an_event_round_trips_as_small_json() -> None:
    event = AlarmEscalated(alarm_id=ALARM, added=("pc-1-03", "pc-1-04"), instance="a1")
    payload = encode(event)
    assert json.loads(payload) == {
        "instance": "a1",
        "type": "alarm_escalated",
        "alarm_id": str(ALARM),
        "added": ["pc-1-03", "pc-1-04"],
    }
    assert " " not in payload  # compact: every byte counts below the NOTIFY limit
    assert decode(payload) == event


def test_workstation_events_carry_the_workstation_and_its_state() -> None:
    event = WorkstationChanged(workstation_id="pc-1-02", online=False, instance="b")
    assert decode(encode(event)) == event
    tested = WorkstationChanged(
        workstation_id="pc-1-02",
        online=True,
        self_test_ok=False,
        self_test_at=datetime(2026, 11, 22, 17, 0, 5, tzinfo=UTC),
        instance="b",
    )
    assert decode(encode(tested)) == tested
    revoked = WorkstationRevoked(workstation_id="pc-1-02", instance="b")
    assert decode(encode(revoked)) == revoked


def test_an_escalation_to_thousands_leaves_the_list_to_the_store() -> None:
    added = tuple(f"staff-{i:05d}" for i in range(5000))
    payload = encode(AlarmEscalated(alarm_id=ALARM, added=added, instance="a"))
    assert len(payload.encode()) <= MAX_PAYLOAD_BYTES
    event = decode(payload)
    assert event is not None
    assert isinstance(event, AlarmEscalated)
    assert event.alarm_id == ALARM
    assert event.added is None  # receivers compute "recipients without a receipt" themselves


def test_a_short_escalation_list_is_kept() -> None:
    added = tuple(f"pc-{i:03d}" for i in range(200))
    event = decode(encode(AlarmEscalated(alarm_id=ALARM, added=added, instance="a")))
    assert event is not None
    assert event.added == added


def test_a_new_alarm_carries_its_popups_so_receivers_need_no_store_read() -> None:
    popups = ('{"type":"alarm_notify","instruction":"come_help"}', '{"type":"alarm_notify"}')
    deliveries = tuple((f"pc-{i:03d}", i % 2) for i in range(50))
    sent = AlarmStored(alarm_id=ALARM, popups=popups, deliveries=deliveries, instance="a")
    event = decode(encode(sent))
    assert event is not None
    assert (event.popups, event.deliveries) == (popups, deliveries)


def test_a_new_alarm_for_thousands_leaves_its_popups_to_the_store() -> None:
    deliveries = tuple((f"staff-{i:05d}", 0) for i in range(3000))
    sent = AlarmStored(alarm_id=ALARM, popups=("{}",), deliveries=deliveries, instance="a")
    payload = encode(sent)
    assert len(payload.encode()) <= MAX_PAYLOAD_BYTES
    event = decode(payload)
    assert event is not None
    assert (event.alarm_id, event.popups, event.deliveries) == (ALARM, (), ())


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "[]",
        '{"type": "alarm_stored"}',  # no instance
        '{"instance": "a", "type": "alarm_burnt"}',  # a type this version does not know
        '{"instance": "a", "type": "alarm_stored", "alarm_id": "nope"}',
        '{"instance": "a", "type": "resync"}',  # catch-up is local, never taken from the wire
        '{"instance": "a", "type": "alarm_stored", "popups": ["{}"], "deliveries": [["pc", 1]]}',
    ],
)
def test_unreadable_events_are_dropped(payload: str) -> None:
    assert decode(payload) is None


def test_own_events_are_ignored_and_foreign_ones_accepted() -> None:
    payload = encode(AlarmChanged(alarm_id=ALARM, instance="hub-a"))
    assert accept(payload, own_instance="hub-a") is None
    foreign = accept(payload, own_instance="hub-b")
    assert foreign is not None
    assert foreign.instance == "hub-a"


def test_the_bus_is_chosen_by_setting_and_store() -> None:
    sqlite = "sqlite+aiosqlite:////tmp/x.sqlite3"
    postgres = "postgresql+asyncpg://postgres@127.0.0.1:5432/alarm"
    assert isinstance(create_bus("auto", sqlite), LocalBus)
    assert isinstance(create_bus("auto", postgres), PostgresBus)
    assert isinstance(create_bus("local", postgres), LocalBus)
    assert isinstance(create_bus("postgres", postgres), PostgresBus)
    with pytest.raises(ValueError, match="needs a PostgreSQL"):
        create_bus("postgres", sqlite)


def test_the_listening_connection_gets_a_plain_asyncpg_dsn() -> None:
    dsn = asyncpg_dsn("postgresql+asyncpg://alarm:s3cret@db.example:5433/alarm")
    assert dsn == "postgresql://alarm:s3cret@db.example:5433/alarm"


# --- over a real PostgreSQL -----------------------------------------------------------


@dataclass
class Inbox:
    """What a bus hands to its hub, in order."""

    events: list[BusEvent] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, event: BusEvent) -> None:
        self.events.append(event)
        self.arrived.set()

    async def wait_for(self, predicate: object, timeout: float = 5.0) -> BusEvent:
        assert callable(predicate)
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A migrated database of its own, dropped afterwards (the suite's rule for PostgreSQL)."""
    name = await create_database("silent_alarm_bus")
    url = sqlalchemy_url(name)
    await asyncio.to_thread(upgrade, url)  # alembic runs its own event loop
    try:
        yield url
    finally:
        await drop_database(name)


def alarm_of(event: BusEvent) -> uuid.UUID | None:
    """The alarm an event names (a resync or a workstation's event names none)."""
    return getattr(event, "alarm_id", None)


async def until(probe: Callable[[], bool], timeout: float = 5.0) -> None:
    """Bounded wait for a condition of this process (the bus noticing its connection died)."""
    async with asyncio.timeout(timeout):
        while True:
            if probe():
                return
            await asyncio.sleep(0.01)


async def _terminate(bus: PostgresBus) -> None:
    """What a DBA's pg_terminate_backend, a proxy restart or a failover does to the listener."""
    pid = bus.server_pid
    assert pid is not None
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


postgres = pytest.mark.postgres


@postgres
async def test_events_reach_the_other_instance_and_not_the_own(pg_url: str) -> None:
    a, b = PostgresBus(pg_url, instance="hub-a"), PostgresBus(pg_url, instance="hub-b")
    inbox_a, inbox_b = Inbox(), Inbox()
    await a.start(inbox_a)
    await b.start(inbox_b)
    try:
        assert a.connected
        assert b.connected
        for i in range(3):
            a.publish(AlarmChanged(alarm_id=uuid.UUID(int=i)))
        got = await inbox_b.wait_for(lambda e: alarm_of(e) == uuid.UUID(int=2))
        assert got.instance == "hub-a"
        assert [alarm_of(e) for e in inbox_b.events] == [uuid.UUID(int=i) for i in range(3)]
        # A's own events came back over LISTEN too and were dropped; B's arrive at A.
        b.publish(WorkstationRevoked(workstation_id="pc-1-02"))
        await inbox_a.wait_for(lambda e: isinstance(e, WorkstationRevoked))
        assert [e.instance for e in inbox_a.events] == ["hub-b"]
    finally:
        await a.stop()
        await b.stop()


@postgres
async def test_a_dropped_listening_connection_recovers_and_catches_up(pg_url: str) -> None:
    # Reconnect only after ~1 s, so what happens meanwhile is surely missed by LISTEN.
    a = PostgresBus(pg_url, instance="hub-a")
    b = PostgresBus(pg_url, instance="hub-b", backoff=(1.0, 1.0), check_interval=0.5)
    inbox_b = Inbox()
    await a.start(Inbox())
    await b.start(inbox_b)
    db = Database(pg_url)
    try:
        old_pid = b.server_pid
        await _terminate(b)
        await until(lambda: not b.connected)
        # While B is deaf: a change is stored (an audit event names the alarm) and announced.
        missed = uuid.uuid4()
        async with db.write() as session:
            (await AuditTrail.open(session)).append("test", "alarm_resolved", alarm_id=missed)
        a.publish(AlarmChanged(alarm_id=missed))
        resync = await inbox_b.wait_for(lambda e: isinstance(e, Resync), timeout=10)
        assert missed in resync.alarm_ids
        assert b.connected
        assert b.reconnects == 1
        assert b.server_pid != old_pid
        # And B hears live events again.
        again = uuid.uuid4()
        a.publish(AlarmStored(alarm_id=again))
        await inbox_b.wait_for(lambda e: alarm_of(e) == again)
    finally:
        await db.dispose()
        await a.stop()
        await b.stop()


@postgres
async def test_events_published_while_the_connection_is_down_go_out_after_it(
    pg_url: str,
) -> None:
    a = PostgresBus(pg_url, instance="hub-a", backoff=(1.0, 1.0), check_interval=0.5)
    b = PostgresBus(pg_url, instance="hub-b")
    inbox_b = Inbox()
    await a.start(Inbox())
    await b.start(inbox_b)
    try:
        await _terminate(a)
        await until(lambda: not a.connected)
        queued = uuid.uuid4()
        a.publish(AlarmStored(alarm_id=queued))
        got = await inbox_b.wait_for(lambda e: alarm_of(e) == queued, timeout=10)
        assert got.instance == "hub-a"
        assert a.reconnects == 1
    finally:
        await a.stop()
        await b.stop()


@postgres
async def test_a_level_three_escalation_without_its_list_still_crosses(pg_url: str) -> None:
    a, b = PostgresBus(pg_url, instance="hub-a"), PostgresBus(pg_url, instance="hub-b")
    inbox_b = Inbox()
    await a.start(Inbox())
    await b.start(inbox_b)
    try:
        added = tuple(f"staff-{i:05d}" for i in range(3000))
        a.publish(AlarmEscalated(alarm_id=ALARM, added=added))
        got = await inbox_b.wait_for(lambda e: alarm_of(e) == ALARM)
        assert isinstance(got, AlarmEscalated)
        assert got.added is None
    finally:
        await a.stop()
        await b.stop()


def test_the_hub_refuses_a_postgres_bus_on_sqlite(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SILENT_ALARM_BUS": "postgres",
        "SILENT_ALARM_DATA_DIR": str(tmp_path),
        "SILENT_ALARM_SESSION_SECRET": "x" * 40,
        "SILENT_ALARM_PORT": "0",
    }
    env.pop("SILENT_ALARM_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "dispatch", "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("silent-alarm-dispatch: SILENT_ALARM_BUS=postgres needs a PostgreSQL")
