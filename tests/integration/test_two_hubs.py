"""Two real hub processes on one PostgreSQL database: the bus makes them act as one hub.

Both hubs run with heartbeat and re-delivery rounds 30 s apart, so nothing in these
tests can cross from one instance to the other through a hub's own polling of the
store within the bounds asserted here: what arrives, arrived over the bus
(PostgreSQL LISTEN/NOTIFY, dispatch/net/bus.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]  # ships no type hints
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from shared.domain import AlarmLevel, AlarmState, Answer, Instruction
from shared.protocol import (
    Acknowledge,
    AgentHealth,
    AlarmNotify,
    AlarmStored,
    AlarmUpdate,
    CancelAlarm,
    CloseCode,
    ConsoleAlarm,
    ConsoleAlarmChanged,
    IncidentReport,
    Ping,
    Pong,
    Receipt,
    Resolve,
    Respond,
    WorkstationChanged,
    WorkstationStatus,
    encode,
    hub_to_console,
)
from tests.support.hub import RunningHub, postgres_database, start_two_hubs
from tests.support.login import http_login
from tests.support.operators import ADMIN, API, api_client
from tests.support.postgres import POSTGRES_ADMIN_DSN
from tests.support.wsclient import AgentClient, connect_agent, wait_closed

pytestmark = pytest.mark.postgres

SLOW_ROUNDS = {
    "SILENT_ALARM_HEARTBEAT_INTERVAL": "30",
    "SILENT_ALARM_REDELIVER_INTERVAL": "30",
}
ROLE_ADMIN = ("--role", "admin", "--name", "Admin")
Connect = Callable[[RunningHub, str], Awaitable[AgentClient]]


@dataclass
class Hubs:
    a: RunningHub
    b: RunningHub
    database_url: str


@pytest.fixture
def hubs(tmp_path: Path) -> Iterator[Hubs]:
    with postgres_database() as url:
        a, b = start_two_hubs(tmp_path / "hubs", url, env=SLOW_ROUNDS)
        try:
            yield Hubs(a, b, url)
        finally:
            a.stop()
            b.stop()


@pytest.fixture
async def agents(hubs: Hubs) -> AsyncIterator[Connect]:
    clients: list[AgentClient] = []

    async def connect(hub: RunningHub, workstation_id: str) -> AgentClient:
        config = hub.agent_config(workstation_id)
        client = await connect_agent(
            hub.agent_ws_url, workstation_id, config["token"], config["user"]
        )
        clients.append(client)
        return client

    yield connect
    for client in clients:
        with contextlib.suppress(Exception):
            await client.close()


class Console:
    """The guards' console socket (same origin, operator session), as the page opens it."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    @classmethod
    async def open(cls, hub: RunningHub) -> Console:
        with http_login(hub) as client:
            cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
        connection = await websockets.connect(
            hub.console_ws_url,
            origin=hub.url,  # type: ignore[arg-type]
            additional_headers={"Cookie": cookie},
            open_timeout=5,
        )
        snapshot = hub_to_console.validate_json(await connection.recv())
        assert snapshot.type == "alarm_snapshot"
        return cls(connection)

    async def alarm(
        self, alarm_id: uuid.UUID, check: Callable[[ConsoleAlarm], bool], timeout: float = 5
    ) -> ConsoleAlarm:
        """The first change of this alarm that passes ``check``; pings are answered."""
        async with asyncio.timeout(timeout):
            while True:
                message = hub_to_console.validate_json(await self.connection.recv())
                if isinstance(message, Ping):
                    await self.connection.send(encode(Pong(reply_to=message.id)))
                elif (
                    isinstance(message, ConsoleAlarmChanged)
                    and message.alarm.alarm_id == alarm_id
                    and check(message.alarm)
                ):
                    return message.alarm

    async def workstation(
        self,
        workstation_id: str,
        online: bool,
        timeout: float = 5,
        reasons: list[str] | None = None,
    ) -> WorkstationStatus:
        async with asyncio.timeout(timeout):
            while True:
                message = hub_to_console.validate_json(await self.connection.recv())
                if isinstance(message, Ping):
                    await self.connection.send(encode(Pong(reply_to=message.id)))
                elif (
                    isinstance(message, WorkstationChanged)
                    and message.workstation.workstation_id == workstation_id
                    and message.workstation.online is online
                    and reasons in (None, message.workstation.unprotected_reasons)
                ):
                    return message.workstation

    async def send(self, message: Acknowledge | Resolve) -> None:
        await self.connection.send(encode(message))

    async def close(self) -> None:
        await self.connection.close()


# --- the alarm path across instances ----------------------------------------------------


async def test_an_alarm_on_a_reaches_recipients_and_console_on_b_and_answers_come_back(
    hubs: Hubs, agents: Connect
) -> None:
    connect = agents
    console_a, console_b = await Console.open(hubs.a), await Console.open(hubs.b)
    raiser: AgentClient = await connect(hubs.a, "pc-1-01")
    neighbour: AgentClient = await connect(hubs.b, "pc-1-02")
    security: AgentClient = await connect(hubs.b, "pc-e-01")
    try:
        sent = await raiser.raise_alarm(AlarmLevel.THREAT)
        await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)

        # Stored on A → B's agents get the notify exactly as A would have built it.
        notify = await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id)
        assert notify.instruction is Instruction.COME_HELP
        assert notify.room is not None
        assert notify.room.number == "1.01"
        assert notify.raiser == "Frau Albers"
        guard = await security.expect(AlarmNotify, alarm_id=sent.alarm_id)
        assert guard.room is not None
        assert guard.room.number == "1.01"
        row = await console_b.alarm(sent.alarm_id, lambda a: a.state is AlarmState.ACTIVE)
        assert row.recipients == 2

        # A receipt written by B shows as delivered on A's console.
        await neighbour.send(Receipt(alarm_id=sent.alarm_id))
        await console_a.alarm(sent.alarm_id, lambda a: a.delivered >= 1)

        # "Ich komme" on B → the raiser on A is told someone is coming; both consoles see it.
        await neighbour.send(Respond(alarm_id=sent.alarm_id, answer=Answer.COMING))
        update = await raiser.expect(AlarmUpdate, alarm_id=sent.alarm_id)
        assert update.coming == 1
        for console in (console_a, console_b):
            await console.alarm(
                sent.alarm_id,
                lambda a: [r.answer for r in a.responders] == [Answer.COMING],
            )

        # A guard on A's console acknowledges → B's agents and console learn it.
        await console_a.send(Acknowledge(alarm_id=sent.alarm_id))
        await security.expect(AlarmUpdate, alarm_id=sent.alarm_id, state=AlarmState.ACKNOWLEDGED)
        await console_b.alarm(sent.alarm_id, lambda a: a.acknowledged_by is not None)

        # The all-clear from B's console reaches the raiser on A.
        report = IncidentReport(assessed_level=AlarmLevel.THREAT)
        await console_b.send(Resolve(alarm_id=sent.alarm_id, report=report))
        await raiser.expect(AlarmUpdate, alarm_id=sent.alarm_id, state=AlarmState.RESOLVED)
        await neighbour.expect(AlarmUpdate, alarm_id=sent.alarm_id, state=AlarmState.RESOLVED)
        await console_a.alarm(sent.alarm_id, lambda a: a.state is AlarmState.RESOLVED)
    finally:
        await console_a.close()
        await console_b.close()


async def test_a_cancel_on_b_closes_the_popups_on_a(hubs: Hubs, agents: Connect) -> None:
    raiser: AgentClient = await agents(hubs.b, "pc-1-03")
    left: AgentClient = await agents(hubs.a, "pc-1-02")
    right: AgentClient = await agents(hubs.a, "pc-1-04")
    sent = await raiser.raise_alarm(AlarmLevel.THREAT)
    await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
    await left.expect(AlarmNotify, alarm_id=sent.alarm_id)
    await right.expect(AlarmNotify, alarm_id=sent.alarm_id)
    await raiser.send(CancelAlarm(alarm_id=sent.alarm_id))
    for agent in (left, right):
        await agent.expect(AlarmUpdate, alarm_id=sent.alarm_id, state=AlarmState.CANCELLED)


async def test_an_escalation_reaches_the_added_recipients_on_both_instances(
    hubs: Hubs, agents: Connect
) -> None:
    await asyncio.to_thread(_add_admin, hubs)

    def short_escalation() -> int:
        # Level 1 widens to the whole floor 1 s after storing if nobody acknowledges.
        policy = {
            "scopes": ["neighbours", "security"],
            "escalation": [{"after_s": 1, "scope": "floor"}],
            "cancel_window_s": 0,
        }
        with api_client(hubs.a, *ADMIN) as admin:
            return admin.put(f"{API}/sites/1/policies/1", json=policy).status_code

    assert await asyncio.to_thread(short_escalation) == 200
    raiser = await agents(hubs.a, "pc-1-01")
    # Both instances run the escalation round; whichever widens the circle, one of
    # these two agents sits on the other instance and hears of it only over the bus.
    on_a = await agents(hubs.a, "pc-1-04")
    on_b = await agents(hubs.b, "pc-1-05")
    sent = await raiser.raise_alarm(AlarmLevel.SUPPORT)
    await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
    for agent in (on_a, on_b):
        notify = await agent.expect(AlarmNotify, alarm_id=sent.alarm_id, timeout=8)
        assert notify.instruction is Instruction.COME_HELP
        assert notify.room is not None
        assert notify.room.number == "1.01"


# --- workstations ------------------------------------------------------------------------


async def test_an_agent_going_on_and_offline_on_a_shows_on_the_console_of_b(
    hubs: Hubs, agents: Connect
) -> None:
    console_b = await Console.open(hubs.b)
    try:
        agent: AgentClient = await agents(hubs.a, "pc-1-05")
        await console_b.workstation("pc-1-05", online=True)
        await agent.close()
        await console_b.workstation("pc-1-05", online=False)
    finally:
        await console_b.close()


async def test_what_an_agent_on_a_reports_broken_shows_with_the_reason_on_b(
    hubs: Hubs, agents: Connect
) -> None:
    console_b = await Console.open(hubs.b)
    try:
        agent: AgentClient = await agents(hubs.a, "pc-1-05")
        assert agent.welcome.agent_health  # this hub takes the message
        await console_b.workstation("pc-1-05", online=True, reasons=[])
        await agent.send(AgentHealth(reasons=["hotkey_unavailable"]))
        await console_b.workstation("pc-1-05", online=True, reasons=["hotkey_unavailable"])
        await agent.send(AgentHealth(reasons=[]))  # fixed: protected again on B
        await console_b.workstation("pc-1-05", online=True, reasons=[])
        await agent.send(AgentHealth(reasons=["no_tray"]))
        await console_b.workstation("pc-1-05", online=True, reasons=["no_tray"])
        await agent.close()  # gone: only "offline" is left, the agent's word is stale
        await console_b.workstation("pc-1-05", online=False, reasons=["offline"])
    finally:
        await console_b.close()


def _add_admin(hubs: Hubs) -> None:
    """``silent-alarm-dispatch operator add`` against the shared PostgreSQL store."""
    env = {**os.environ, "SILENT_ALARM_DATABASE_URL": hubs.database_url}
    result = subprocess.run(
        [sys.executable, "-m", "dispatch", "operator", "add", ADMIN[0], *ROLE_ADMIN],
        input=ADMIN[1] + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr


async def test_a_revocation_through_a_closes_the_socket_held_by_b_within_5_s(
    hubs: Hubs, agents: Connect
) -> None:
    await asyncio.to_thread(_add_admin, hubs)
    agent: AgentClient = await agents(hubs.b, "pc-1-03")

    def revoke() -> int:
        with api_client(hubs.a, *ADMIN) as admin:
            return admin.post(f"{API}/workstations/pc-1-03/revoke").status_code

    started = time.monotonic()
    status, (code, reason) = await asyncio.gather(
        asyncio.to_thread(revoke), wait_closed(agent.connection, timeout=10)
    )
    took = time.monotonic() - started
    print(f"\nrevoke on A -> close 4410 on B: {took * 1000:.1f} ms")
    assert status == 200
    assert (code, reason) == (CloseCode.REVOKED, "revoked")
    assert took <= 5


# --- the bus connection drops --------------------------------------------------------------


def _bus_instance(hub: RunningHub) -> str:
    """The hub's bus instance id, from its JSON log line ``bus_listening``."""
    for line in hub.log().splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if entry.get("event") == "bus_listening":
                return str(entry["instance"])
    raise AssertionError(f"no bus_listening in the log of hub {hub.port}")


async def test_b_recovers_when_its_listening_connection_is_killed(
    hubs: Hubs, agents: Connect
) -> None:
    raiser: AgentClient = await agents(hubs.a, "pc-1-01")
    neighbour: AgentClient = await agents(hubs.b, "pc-1-02")
    instance = _bus_instance(hubs.b)
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    try:
        # What a DBA's pg_terminate_backend, a pooler restart or a failover does to it.
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = $1",
            f"silent-alarm-bus:{instance}",
        )
        assert killed == 1
    finally:
        await admin.close()
    # Raised at once: B is deaf or just back; either way the alarm must reach B's agent
    # (live after the reconnect, or through the catch-up that follows it).
    sent = await raiser.raise_alarm(AlarmLevel.THREAT)
    await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
    await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id, timeout=10)
    # And later changes cross live again.
    await neighbour.send(Respond(alarm_id=sent.alarm_id, answer=Answer.COMING))
    update = await raiser.expect(AlarmUpdate, alarm_id=sent.alarm_id)
    assert update.coming == 1
    assert "bus_connection_lost" in hubs.b.log()
