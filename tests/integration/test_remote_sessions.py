"""Terminal servers (issue 19): each remote session is routed by its client device's room.

One real hub for the module (the demo site: rooms 1.01–1.05 in a row, security at
E.01) with a terminal server ``rds-01`` placed in room 1.05, so that a session routed
by the host would reach 1.05's neighbours. Its sessions say hello with the host's
secret and their client's name, over real WebSockets.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest
import websockets

from shared.domain import AlarmLevel, Instruction
from shared.protocol import (
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    AlarmNotify,
    AlarmStored,
    CloseCode,
    Hello,
    RemoteSession,
    WorkstationUpdate,
    encode,
)
from tests.integration.conftest import Connect, agents_of
from tests.support.hub import RunningHub, query, start_demo_hub
from tests.support.operators import ADMIN, API, add_operator, api_client
from tests.support.wsclient import AgentClient, connect_agent, wait_closed

HOST = "rds-01"

Session = Callable[[str], Awaitable[AgentClient]]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    hub = start_demo_hub(tmp_path_factory.mktemp("hub"))
    add_operator(hub, *ADMIN, "admin")
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def host_token(hub: RunningHub) -> str:
    """The terminal server, enrolled like a PC (here placed in 1.05), and two mapped clients."""
    added = hub.cli("workstation", "add", HOST, "--room", "1.05")
    assert added.returncode == 0, added.stderr
    for client, room in (("THIN-01", "1.01"), ("THIN-03", "1.03")):
        mapped = hub.cli("workstation", "add-client", client, "--room", room)
        assert mapped.returncode == 0, mapped.stderr
        assert f"client {client} mapped to room {room}" in mapped.stdout
    return added.stdout.strip()


@pytest.fixture(scope="module")
def admin(hub: RunningHub) -> Iterator[httpx.Client]:
    with api_client(hub, *ADMIN) as client:
        yield client


@pytest.fixture
async def pc(hub: RunningHub) -> AsyncIterator[Connect]:
    async with agents_of(hub) as connect:
        yield connect


@pytest.fixture
async def session(hub: RunningHub, host_token: str) -> AsyncIterator[Session]:
    """Opens a session of the terminal server for a client; closes all after the test."""
    opened: list[AgentClient] = []

    async def open_session(client_name: str) -> AgentClient:
        client = await connect_agent(
            hub.agent_ws_url,
            HOST,
            host_token,
            user=f"Nutzer an {client_name}",
            remote_session=RemoteSession(client_name=client_name),
        )
        opened.append(client)
        return client

    yield open_session
    for client in opened:
        await client.close()


def recipients(hub: RunningHub, alarm_id: uuid.UUID) -> set[str]:
    rows = query(
        hub, "SELECT workstation_id FROM alarm_recipients WHERE alarm_id = ?", str(alarm_id)
    )
    return {str(row[0]) for row in rows}


def alarm_row(hub: RunningHub, alarm_id: uuid.UUID) -> tuple[object, ...]:
    [row] = query(
        hub,
        "SELECT a.workstation_id, r.number FROM alarms a LEFT JOIN rooms r ON r.id = a.room_id"
        " WHERE a.id = ?",
        str(alarm_id),
    )
    return row


def raised_detail(hub: RunningHub, alarm_id: uuid.UUID) -> dict[str, object]:
    [(detail,)] = query(
        hub,
        "SELECT detail FROM audit_events WHERE alarm_id = ? AND action = 'alarm_raised'",
        str(alarm_id),
    )
    loaded: dict[str, object] = json.loads(str(detail))
    return loaded


async def test_two_sessions_of_one_host_are_routed_by_their_clients_rooms(
    hub: RunningHub, session: Session, pc: Connect, admin: httpx.Client
) -> None:
    first, third = await session("THIN-01"), await session("THIN-03")
    assert first.welcome.workstation.workstation_id == "THIN-01"
    assert first.welcome.workstation.room is not None
    assert first.welcome.workstation.room.number == "1.01"
    assert third.welcome.workstation.room is not None
    assert third.welcome.workstation.room.number == "1.03"
    neighbour, far, security = await pc("pc-1-02"), await pc("pc-1-04"), await pc("pc-e-01")
    # Both sessions are online at once, each as its client; the host's own row is not.
    listed = await asyncio.to_thread(admin.get, f"{API}/workstations")
    online = {w["id"]: w["online"] for w in listed.json()}
    assert online["THIN-01"]
    assert online["THIN-03"]
    assert not online[HOST]

    # Each session's alarm is stored for its client and routed by the client's room.
    raised = await first.raise_alarm(AlarmLevel.THREAT)
    await first.expect(AlarmStored, alarm_id=raised.alarm_id)
    popup = await neighbour.expect(AlarmNotify, alarm_id=raised.alarm_id)
    assert popup.room is not None
    assert popup.room.number == "1.01"
    await security.expect(AlarmNotify, alarm_id=raised.alarm_id)
    assert alarm_row(hub, raised.alarm_id) == ("THIN-01", "1.01")
    # Not the host's room: 1.05's neighbour pc-1-04 and pc-1-05 are no recipients.
    assert recipients(hub, raised.alarm_id) == {"pc-1-02", "pc-e-01"}
    assert raised_detail(hub, raised.alarm_id)["session_host"] == HOST

    other = await third.raise_alarm(AlarmLevel.THREAT)
    await third.expect(AlarmStored, alarm_id=other.alarm_id)
    popup = await far.expect(AlarmNotify, alarm_id=other.alarm_id)
    assert popup.room is not None
    assert popup.room.number == "1.03"
    assert alarm_row(hub, other.alarm_id) == ("THIN-03", "1.03")
    assert recipients(hub, other.alarm_id) == {"pc-1-02", "pc-1-04", "pc-e-01"}

    # A colleague's alarm reaches each session whose client's room is a neighbour:
    # 1.02's reaches both (1.01 and 1.03), 1.04's only THIN-03's.
    middle = await neighbour.raise_alarm(AlarmLevel.SUPPORT)
    for each in (first, third):
        told = await each.expect(AlarmNotify, alarm_id=middle.alarm_id)
        assert told.instruction is Instruction.COME_HELP
    side = await far.raise_alarm(AlarmLevel.SUPPORT)
    await third.expect(AlarmNotify, alarm_id=side.alarm_id)
    # Popups go out before the commit (docs/architecture.md): the rows are read once
    # the raiser has its stored-ack.
    await far.expect(AlarmStored, alarm_id=side.alarm_id)
    # The host's own row in 1.05 is a recipient, but no session speaks for it: the
    # sessions hear only their clients' rooms.
    assert recipients(hub, side.alarm_id) == {"pc-1-03", "THIN-03", "pc-1-05", HOST, "pc-e-01"}


async def test_an_unmapped_client_is_unprotected_and_never_routed_by_the_host(
    hub: RunningHub, session: Session, pc: Connect, admin: httpx.Client
) -> None:
    stranger = await session("THIN-99")
    assert stranger.welcome.workstation.workstation_id == "THIN-99"
    assert stranger.welcome.workstation.room is None  # the agent shows "no room"
    coverage = (await asyncio.to_thread(admin.get, f"{API}/coverage")).json()
    [row] = [w for w in coverage["unassigned"] if w["id"] == "THIN-99"]
    assert row["online"]
    assert row["state"] == "pending"
    assert row["unprotected_reasons"] == ["no_room"]
    [(actor, detail)] = query(
        hub,
        "SELECT actor, detail FROM audit_events WHERE action = 'session_client_registered'"
        " AND workstation_id = 'THIN-99'",
    )
    assert actor == f"workstation:{HOST}"
    assert json.loads(str(detail))["host"] == HOST

    security = await pc("pc-e-01")
    raised = await stranger.raise_alarm(AlarmLevel.THREAT)
    await stranger.expect(AlarmStored, alarm_id=raised.alarm_id)
    await security.expect(AlarmNotify, alarm_id=raised.alarm_id)
    # As a PC without a room: security only, without a room; never 1.05's neighbours.
    assert alarm_row(hub, raised.alarm_id) == ("THIN-99", None)
    assert recipients(hub, raised.alarm_id) == {"pc-e-01"}

    # The admin places it; the connected session is told at once, like a moved PC.
    [room_id] = query(hub, "SELECT id FROM rooms WHERE number = '1.02'")[0]
    placed = await asyncio.to_thread(
        admin.patch, f"{API}/workstations/THIN-99", json={"room_id": room_id}
    )
    assert placed.status_code == 200, placed.text
    assert placed.json()["state"] == "active"
    update = await stranger.expect(WorkstationUpdate, timeout=10)
    assert update.workstation.room is not None
    assert update.workstation.room.number == "1.02"


async def test_refused_sessions_change_nothing(
    hub: RunningHub, session: Session, host_token: str, admin: httpx.Client
) -> None:
    client = await session("THIN-77")  # registered by its first session
    await client.close()
    before = query(hub, "SELECT count(*) FROM workstations")
    # A client name with a control character: the hello is invalid (4400).
    hello = json.loads(encode(session_hello(HOST, host_token, "THIN-ok")))
    hello["remote_session"]["client_name"] = "THIN\n01"
    code, _ = await refused(hub, json.dumps(hello))
    assert code == CloseCode.PROTOCOL_ERROR
    # A wrong host secret opens no session, whatever client it names.
    code, _ = await refused(hub, encode(session_hello(HOST, "wrong", "THIN-55")))
    assert code == CloseCode.UNAUTHORIZED
    assert query(hub, "SELECT count(*) FROM workstations") == before

    # A revoked client's sessions are refused (4410) in any spelling, none registered anew.
    revoked = await asyncio.to_thread(admin.post, f"{API}/workstations/THIN-77/revoke")
    assert revoked.status_code == 200, revoked.text
    code, reason = await refused(hub, encode(session_hello(HOST, host_token, "thin-77")))
    assert (code, reason) == (CloseCode.REVOKED, "client THIN-77 is revoked")
    assert query(hub, "SELECT count(*) FROM workstations") == before


def session_hello(host: str, token: str, client_name: str) -> Hello:
    return Hello(
        protocol=PROTOCOL_VERSION,
        workstation_id=host,
        token=token,
        agent_version="test",
        remote_session=RemoteSession(client_name=client_name),
    )


async def refused(hub: RunningHub, hello: str) -> tuple[int, str]:
    """Sends a hello the hub must refuse; the close code and reason it answered with."""
    connection = await websockets.connect(hub.agent_ws_url, max_size=MAX_MESSAGE_BYTES)
    await connection.send(hello)
    return await wait_closed(connection)


async def test_revoking_the_host_closes_every_session(
    hub: RunningHub, session: Session, admin: httpx.Client
) -> None:
    first, third = await session("THIN-01"), await session("THIN-03")
    revoked = await asyncio.to_thread(admin.post, f"{API}/workstations/{HOST}/revoke")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["closed_connections"] == 2
    for each in (first, third):
        code, _ = await wait_closed(each.connection)
        assert code == CloseCode.REVOKED


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("THIN 01", "--room", "1.01"), "bad client name 'THIN 01'"),
        (("THIN-88", "--room", "9.99"), "9.99"),
        (("thin-01", "--room", "1.02"), "exists already"),
    ],
)
def test_add_client_refusals_are_one_line_and_store_nothing(
    hub: RunningHub, host_token: str, args: tuple[str, ...], words: str
) -> None:
    before = query(hub, "SELECT id, room_id FROM workstations ORDER BY id")
    result = hub.cli("workstation", "add-client", *args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert words in result.stderr
    assert query(hub, "SELECT id, room_id FROM workstations ORDER BY id") == before
