"""The bus between hub instances over a real PostgreSQL LISTEN/NOTIFY.

Each case runs in a database of its own; a dropped listening connection is made by
terminating its backend, as an administrator or a failover would.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import asyncpg  # type: ignore[import-untyped]  # ships no type hints
import pytest
from sqlalchemy.engine import make_url

from dispatch.net.bus import (
    AlarmChanged,
    AlarmEscalated,
    AlarmStored,
    BusEvent,
    PostgresBus,
    Resync,
    WorkstationRevoked,
)
from dispatch.store.audit import AuditTrail
from dispatch.store.database import Database
from tests.support.postgres import (
    POSTGRES_ADMIN_DSN,
    admin_execute,
)
from tests.support.waiting import until

ALARM = uuid.UUID("6f1d2c3b-0000-4000-8000-000000000001")


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


async def _terminate(bus: PostgresBus) -> None:
    """What a DBA's pg_terminate_backend, a proxy restart or a failover does to the listener."""
    pid = bus.server_pid
    assert pid is not None
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


def alarm_of(event: BusEvent) -> uuid.UUID | None:
    """The alarm an event names (a resync or a workstation's event names none)."""
    return getattr(event, "alarm_id", None)


postgres = pytest.mark.postgres


@postgres
async def test_events_reach_the_other_instance_and_not_the_own(postgres_url: str) -> None:
    a, b = PostgresBus(postgres_url, instance="hub-a"), PostgresBus(postgres_url, instance="hub-b")
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
async def test_a_dropped_listening_connection_recovers_and_catches_up(postgres_url: str) -> None:
    # Reconnect only after ~1 s, so what happens meanwhile is surely missed by LISTEN.
    a = PostgresBus(postgres_url, instance="hub-a")
    b = PostgresBus(postgres_url, instance="hub-b", backoff=(1.0, 1.0), check_interval=0.5)
    inbox_b = Inbox()
    await a.start(Inbox())
    await b.start(inbox_b)
    db = Database(postgres_url)
    try:
        old_pid = b.server_pid
        await _terminate(b)
        await until(lambda: not b.connected, what="B noticing its connection died")
        # While B is deaf: a change is stored (an audit event names the alarm) and announced.
        missed = uuid.uuid4()
        async with db.write() as session:
            (await AuditTrail.open(session)).append("test", "alarm_resolved", alarm_id=missed)
        a.publish(AlarmChanged(alarm_id=missed))
        resync = await inbox_b.wait_for(lambda e: isinstance(e, Resync), timeout=10)
        assert isinstance(resync, Resync)
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
    postgres_url: str,
) -> None:
    a = PostgresBus(postgres_url, instance="hub-a", backoff=(1.0, 1.0), check_interval=0.5)
    b = PostgresBus(postgres_url, instance="hub-b")
    inbox_b = Inbox()
    await a.start(Inbox())
    await b.start(inbox_b)
    try:
        await _terminate(a)
        await until(lambda: not a.connected, what="A noticing its connection died")
        queued = uuid.uuid4()
        a.publish(AlarmStored(alarm_id=queued))
        got = await inbox_b.wait_for(lambda e: alarm_of(e) == queued, timeout=10)
        assert got.instance == "hub-a"
        assert a.reconnects == 1
    finally:
        await a.stop()
        await b.stop()


@postgres
async def test_a_level_three_escalation_without_its_list_still_crosses(postgres_url: str) -> None:
    a, b = PostgresBus(postgres_url, instance="hub-a"), PostgresBus(postgres_url, instance="hub-b")
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


async def _default_read_only(database: str, read_only: bool) -> None:
    setting = "SET default_transaction_read_only = on" if read_only else "RESET ALL"
    await admin_execute(f'ALTER DATABASE "{database}" {setting}')


@postgres
async def test_the_bus_keeps_trying_while_no_server_takes_writes_and_listens_once_one_does(
    postgres_url: str,
) -> None:
    # A failover before the standby's promotion: servers answer, none takes writes, and
    # the multi-host URL's target_session_attrs=read-write refuses each. A read-only
    # default on the test's own database looks the same to asyncpg's check (the shared
    # server itself is never reconfigured); the standby of tests/integration's failover
    # test refuses the same way.
    database = make_url(postgres_url).database
    assert database is not None
    await _default_read_only(database, True)
    bus = PostgresBus(
        f"{postgres_url}?target_session_attrs=read-write", instance="hub-a", backoff=(0.05, 0.2)
    )
    try:
        await bus.start(Inbox(), wait=0.5)
        assert not bus.connected
        await _default_read_only(database, False)  # the promotion
        await until(lambda: bus.connected, what="the bus listening on the writable server")
    finally:
        await bus.stop()
