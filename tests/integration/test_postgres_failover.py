"""PostgreSQL's primary fails over to its standby: every alarm stored once, every popup shown.

Two real hub processes share a primary and its synchronous streaming standby through a
libpq multi-host URL (``target_session_attrs=read-write``); the raiser is on hub A,
one recipient on A and one on B, so B hears of the alarms only over the bus, which
must listen on the new primary. The primary is killed (``pg_ctl stop -m immediate``,
its crash), the standby promoted (``pg_ctl promote``, what Patroni does on a lost
leader lock). The raiser's client does what the agent does: it re-sends an alarm the
hub answered ``internal`` (with a backoff, on the same connection) until it is stored.
Both hubs run their heartbeat and re-delivery rounds 30 s apart, so what reaches B
within the bounds here came over the bus, not from B polling the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]  # ships no type hints
import pytest

from shared.domain import AlarmLevel, Trigger
from shared.protocol import (
    AlarmNotify,
    AlarmStored,
    Error,
    ErrorCode,
    Ping,
    Pong,
    RaiseAlarm,
    encode,
    hub_to_agent,
    utc_now,
)
from tests.support.hub import RunningHub, start_two_hubs
from tests.support.pgcluster import PgCluster, pg_cluster
from tests.support.waiting import until
from tests.support.wsclient import AgentClient, connect_agent

pytestmark = pytest.mark.postgres

DATABASE = "silent_alarm"
RECOVERY_BUDGET_S = 15.0
"""GOALS.md: the last recipient has the popup within 15 s of the primary's failure."""
SLOW_ROUNDS = {
    "SILENT_ALARM_HEARTBEAT_INTERVAL": "30",
    "SILENT_ALARM_REDELIVER_INTERVAL": "30",
}
NAMES = ("in flight", "during", "after")
RESEND_BACKOFF_S = (0.25, 2.0)
"""The raiser's re-send after ``internal``: doubling from the first to the second."""


@dataclass
class Failover:
    cluster: PgCluster
    a: RunningHub
    b: RunningHub


@pytest.fixture
def failover(tmp_path: Path) -> Iterator[Failover]:
    with pg_cluster() as cluster:
        cluster.create_database(DATABASE)
        url = cluster.sqlalchemy_url(DATABASE)  # libpq's host list: primary, then standby
        a, b = start_two_hubs(tmp_path / "hubs", url, env=SLOW_ROUNDS)
        try:
            yield Failover(cluster, a, b)
        finally:  # the hubs first: the cluster's teardown then stops idle servers
            a.stop()
            b.stop()


class Recipient:
    """A recipient's socket read all the time: when each popup first arrived; pings answered."""

    def __init__(self, client: AgentClient) -> None:
        self.client = client
        self.popups: dict[uuid.UUID, float] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        connection = self.client.connection
        while True:
            message = hub_to_agent.validate_json(await connection.recv())
            if isinstance(message, Ping):
                await connection.send(encode(Pong(reply_to=message.id)))
            elif isinstance(message, AlarmNotify):
                self.popups.setdefault(message.alarm_id, time.monotonic())

    def failed(self) -> BaseException | None:
        return self._reader.exception() if self._reader.done() else None

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
        await self.client.close()


@dataclass
class Sent:
    message: RaiseAlarm
    refused: int = 0  # answered ``internal``
    stored_at: float | None = None
    other_errors: list[str] = field(default_factory=list)


class Raiser:
    """The raiser's side of the agent's outbox: re-sends an alarm answered ``internal``,
    with a backoff, on the same connection, until ``alarm_stored``."""

    def __init__(self, client: AgentClient) -> None:
        self.client = client
        self.alarms: dict[uuid.UUID, Sent] = {}
        self._by_message: dict[str, uuid.UUID] = {}
        self._resends: set[asyncio.Task[None]] = set()
        self._reader = asyncio.create_task(self._read())

    async def raise_alarm(self) -> uuid.UUID:
        message = RaiseAlarm(
            alarm_id=uuid.uuid4(),
            level=AlarmLevel.THREAT,
            trigger=Trigger.HOTKEY,
            raised_at=utc_now(),
        )
        self.alarms[message.alarm_id] = Sent(message)
        await self._send(message)
        return message.alarm_id

    async def _send(self, message: RaiseAlarm) -> None:
        self._by_message[message.id] = message.alarm_id
        await self.client.send(message)

    async def _resend(self, sent: Sent) -> None:
        low, high = RESEND_BACKOFF_S
        await asyncio.sleep(min(high, low * 2 ** (sent.refused - 1)))
        # The same alarm (its id is the idempotency key) in a new message, as the agent does.
        await self._send(sent.message.model_copy(update={"id": uuid.uuid4().hex}))

    async def _read(self) -> None:
        connection = self.client.connection
        while True:
            message = hub_to_agent.validate_json(await connection.recv())
            if isinstance(message, Ping):
                await connection.send(encode(Pong(reply_to=message.id)))
            elif isinstance(message, AlarmStored):
                sent = self.alarms[message.alarm_id]
                if sent.stored_at is None:
                    sent.stored_at = time.monotonic()
            elif isinstance(message, Error) and message.reply_to in self._by_message:
                sent = self.alarms[self._by_message[message.reply_to]]
                if message.code is not ErrorCode.INTERNAL:
                    sent.other_errors.append(message.code.value)
                    continue
                sent.refused += 1
                task = asyncio.create_task(self._resend(sent))
                self._resends.add(task)
                task.add_done_callback(self._resends.discard)

    def failed(self) -> BaseException | None:
        return self._reader.exception() if self._reader.done() else None

    async def close(self) -> None:
        for task in (self._reader, *self._resends):
            task.cancel()
        for task in (self._reader, *self._resends):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.client.close()


async def _connect(hub: RunningHub, workstation_id: str) -> AgentClient:
    config = hub.agent_config(workstation_id)
    return await connect_agent(hub.agent_ws_url, workstation_id, config["token"], config["user"])


@contextlib.asynccontextmanager
async def _agents(failover: Failover) -> AsyncIterator[tuple[Raiser, list[Recipient]]]:
    raiser = Raiser(await _connect(failover.a, "pc-1-01"))
    recipients: list[Recipient] = []
    try:
        recipients.append(Recipient(await _connect(failover.a, "pc-e-01")))  # security, on A
        recipients.append(Recipient(await _connect(failover.b, "pc-1-02")))  # neighbour, on B
        yield raiser, recipients
    finally:
        await raiser.close()
        for recipient in recipients:
            await recipient.close()


def _everywhere(raiser: Raiser, recipients: list[Recipient], alarms: list[uuid.UUID]) -> bool:
    """Every alarm stored and on every recipient's screen; a broken reader ends the wait."""
    readers: list[Raiser | Recipient] = [raiser, *recipients]
    for reader in readers:
        if (error := reader.failed()) is not None:
            raise AssertionError(f"a test client's socket failed: {error!r}")
    stored = all(raiser.alarms[alarm].stored_at is not None for alarm in alarms)
    shown = all(alarm in r.popups for r in recipients for alarm in alarms)
    return stored and shown


async def test_alarms_before_during_and_after_a_failover_are_stored_once_and_delivered(
    failover: Failover,
) -> None:
    cluster = failover.cluster
    async with _agents(failover) as (raiser, recipients):
        before = await raiser.raise_alarm()
        await until(lambda: _everywhere(raiser, recipients, [before]), timeout=10, what="before")

        # In flight when the primary dies: sent, then the crash at once.
        in_flight = await raiser.raise_alarm()
        failed_at = time.monotonic()
        await asyncio.to_thread(cluster.kill_primary)
        # Raised with no server taking writes: the hub must answer it `internal`.
        during = await raiser.raise_alarm()
        await until(
            lambda: raiser.alarms[during].refused > 0,
            timeout=10,
            what="the hub answering `internal` while no server takes writes",
        )
        await asyncio.to_thread(cluster.promote_standby)
        promoted_at = time.monotonic()
        after = await raiser.raise_alarm()

        switched = [in_flight, during, after]
        # Bounded above the budget, so a miss is reported with its figures below.
        await until(
            lambda: _everywhere(raiser, recipients, switched),
            timeout=RECOVERY_BUDGET_S + 15,
            what="every alarm stored and shown after the failover",
        )
        last_popup = max(r.popups[alarm] for r in recipients for alarm in switched)
        last_stored = max(raiser.alarms[alarm].stored_at or 0.0 for alarm in switched)
        recovery = last_popup - failed_at
        refused = {
            name: raiser.alarms[alarm].refused for name, alarm in zip(NAMES, switched, strict=True)
        }
        print(
            f"\nPostgreSQL failover: killed → promoted {promoted_at - failed_at:.2f} s, "
            f"promoted → last stored {last_stored - promoted_at:.2f} s, "
            f"killed → last recipient {recovery:.2f} s; `internal` answers {refused}"
        )
        assert recovery <= RECOVERY_BUDGET_S
        assert all(not raiser.alarms[a].other_errors for a in raiser.alarms)

    # Exactly once on the new primary: one row, one raise in the audit trail, one row
    # per recipient, whatever was re-sent.
    everything = sorted(str(a) for a in (before, *switched))
    new_primary = await asyncpg.connect(
        host="127.0.0.1", port=cluster.standby.port, user="postgres", database=DATABASE
    )
    try:
        assert not await new_primary.fetchval("SELECT pg_is_in_recovery()")
        alarms = await new_primary.fetch("SELECT id FROM alarms ORDER BY id")
        assert [row["id"] for row in alarms] == everything
        raised = await new_primary.fetch(
            "SELECT alarm_id, count(*) AS n FROM audit_events WHERE action = 'alarm_raised'"
            " GROUP BY alarm_id ORDER BY alarm_id"
        )
        assert [(row["alarm_id"], row["n"]) for row in raised] == [(a, 1) for a in everything]
        routed = await new_primary.fetch(
            "SELECT alarm_id, workstation_id FROM alarm_recipients"
            " WHERE workstation_id IN ('pc-e-01', 'pc-1-02') ORDER BY alarm_id, workstation_id"
        )
        assert [(row["alarm_id"], row["workstation_id"]) for row in routed] == [
            (a, ws) for a in everything for ws in ("pc-1-02", "pc-e-01")
        ]
        # Both hubs' bus listeners are on the new primary.
        listeners = await new_primary.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'silent-alarm-bus:%'"
        )
        assert listeners == 2
    finally:
        await new_primary.close()
