"""A PC moved while its agent is connected: the hub tells the agent, and the next alarm
names and is routed around the NEW room, whoever moved it.

Real hub process (demo site: rooms 1.01-1.05 linked in a row, security pc-e-01 in
E.01), real WebSocket clients speaking the agent protocol. The moves come through
the admin REST API (inside the hub), the CLI's CSV import (another process) and
plain SQL; a pending PC is given a room; a room is renamed. One hub for the module:
each test moves its own PCs.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from shared.protocol import AlarmNotify, AlarmStored, WorkstationUpdate
from tests.integration.conftest import Connect, agents_of
from tests.support.hub import RunningHub, start_demo_hub
from tests.support.operators import ADMIN, API, add_operator, api_client
from tests.support.wsclient import AgentClient

PUSH_BOUND = 15.0
"""Seconds for a move to reach the agent: the hub checks the topology every half
heartbeat (0.5 s here); generous for a busy 2-core machine."""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    hub = start_demo_hub(
        tmp_path_factory.mktemp("hub"),
        env={"SILENT_ALARM_HEARTBEAT_INTERVAL": "1", "SILENT_ALARM_HANDSHAKE_TIMEOUT": "2"},
    )
    add_operator(hub, *ADMIN, "admin")
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def admin(hub: RunningHub) -> Iterator[httpx.Client]:
    with api_client(hub, *ADMIN) as client:
        yield client


@pytest.fixture
async def connect(hub: RunningHub) -> AsyncIterator[Connect]:
    async with agents_of(hub) as open_agent:
        yield open_agent


def sql(hub: RunningHub, statement: str, *params: object) -> list[tuple[object, ...]]:
    """Plain SQL on the hub's SQLite file from this process (another writer to the hub)."""
    with sqlite3.connect(hub.data_dir / "dispatch.sqlite3", timeout=10) as db:
        return db.execute(statement, params).fetchall()


def room_id(hub: RunningHub, number: str) -> int:
    ((found,),) = sql(hub, "SELECT id FROM rooms WHERE number = ?", number)
    assert isinstance(found, int)
    return found


async def patch(admin: httpx.Client, path: str, body: dict[str, object]) -> None:
    response = await asyncio.to_thread(admin.patch, f"{API}{path}", json=body)
    assert response.status_code == 200, response.text


async def raise_and_store(hub: RunningHub, raiser: AgentClient) -> tuple[uuid.UUID, set[str]]:
    """A level-2 alarm; its id and the recipients committed with it (before alarm_stored)."""
    sent = await raiser.raise_alarm()
    await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
    rows = sql(
        hub, "SELECT workstation_id FROM alarm_recipients WHERE alarm_id = ?", str(sent.alarm_id)
    )
    return sent.alarm_id, {str(r[0]) for r in rows}


def stored_room(hub: RunningHub, alarm_id: uuid.UUID) -> object:
    ((number,),) = sql(
        hub,
        "SELECT rooms.number FROM alarms LEFT JOIN rooms ON rooms.id = alarms.room_id"
        " WHERE alarms.id = ?",
        str(alarm_id),
    )
    return number


async def test_a_pc_moved_through_the_api_is_told_and_alarms_from_the_new_room(
    hub: RunningHub, admin: httpx.Client, connect: Connect
) -> None:
    raiser = await connect("pc-1-01")
    assert raiser.welcome.workstation.room is not None
    assert raiser.welcome.workstation.room.number == "1.01"
    new_neighbour = await connect("pc-1-04")
    old_neighbour = await connect("pc-1-02")
    security = await connect("pc-e-01")

    await patch(admin, "/workstations/pc-1-01", {"room_id": room_id(hub, "1.05")})
    update = await raiser.expect(WorkstationUpdate, timeout=PUSH_BOUND)
    assert update.workstation.workstation_id == "pc-1-01"
    assert update.workstation.room is not None
    assert (update.workstation.room.number, update.workstation.room.name) == ("1.05", "Teamleitung")
    assert update.workstation.room.floor == "1. OG"

    alarm_id, recipients = await raise_and_store(hub, raiser)
    assert recipients == {"pc-1-04", "pc-e-01"}  # 1.05's neighbour 1.04, and security
    assert stored_room(hub, alarm_id) == "1.05"
    for recipient in (new_neighbour, security):
        notify = await recipient.expect(AlarmNotify, alarm_id=alarm_id)
        assert notify.room is not None
        assert notify.room.number == "1.05"
    # Only the moved PC was told: anything sent to the others before the alarm has arrived.
    assert not [m for m in new_neighbour.received if isinstance(m, WorkstationUpdate)]
    await patch(admin, "/workstations/pc-1-01", {"room_id": room_id(hub, "1.01")})
    back = await raiser.expect(WorkstationUpdate, timeout=PUSH_BOUND)
    assert back.workstation.room is not None
    assert back.workstation.room.number == "1.01"
    assert not [m for m in old_neighbour.received if isinstance(m, WorkstationUpdate)]


async def test_a_pending_pc_given_a_room_is_told_and_alarms_from_it(
    hub: RunningHub, admin: httpx.Client, connect: Connect
) -> None:
    sql(hub, "UPDATE workstations SET room_id = NULL, state = 'pending' WHERE id = 'pc-1-03'")
    pending = await connect("pc-1-03")
    assert pending.welcome.workstation.room is None
    security = await connect("pc-e-01")
    unplaced_id, unplaced = await raise_and_store(hub, pending)
    assert unplaced == {"pc-e-01"}  # no room yet: security only, with the workstation id
    assert (await security.expect(AlarmNotify, alarm_id=unplaced_id)).room is None

    await patch(admin, "/workstations/pc-1-03", {"room_id": room_id(hub, "1.03")})
    update = await pending.expect(WorkstationUpdate, timeout=PUSH_BOUND)
    assert update.workstation.room is not None
    assert update.workstation.room.number == "1.03"

    alarm_id, recipients = await raise_and_store(hub, pending)
    assert recipients == {"pc-1-02", "pc-1-04", "pc-e-01"}
    notify = await security.expect(AlarmNotify, alarm_id=alarm_id)
    assert notify.room is not None
    assert notify.room.number == "1.03"


async def test_a_csv_import_by_the_cli_moves_a_connected_pc(
    hub: RunningHub, connect: Connect, tmp_path: Path
) -> None:
    raiser = await connect("pc-1-05")
    neighbour = await connect("pc-1-02")
    csv = tmp_path / "mapping.csv"
    csv.write_text("workstation_id,room_number\npc-1-05,1.01\n", encoding="utf-8")
    imported = await asyncio.to_thread(hub.cli, "mapping", "import", str(csv))
    assert imported.returncode == 0, imported.stderr + imported.stdout

    update = await raiser.expect(WorkstationUpdate, timeout=PUSH_BOUND)
    assert update.workstation.room is not None
    assert update.workstation.room.number == "1.01"
    alarm_id, recipients = await raise_and_store(hub, raiser)
    assert recipients == {"pc-1-02", "pc-e-01"}  # 1.01's neighbour; pc-1-01 shares the room
    assert stored_room(hub, alarm_id) == "1.01"
    notify = await neighbour.expect(AlarmNotify, alarm_id=alarm_id)
    assert notify.room is not None
    assert notify.room.number == "1.01"
    sql(hub, "UPDATE workstations SET room_id = ? WHERE id = 'pc-1-05'", room_id(hub, "1.05"))
    back = await raiser.expect(WorkstationUpdate, timeout=PUSH_BOUND)  # plain SQL too
    assert back.workstation.room is not None
    assert back.workstation.room.number == "1.05"


async def test_a_renamed_room_is_told_to_the_agents_in_it(
    hub: RunningHub, admin: httpx.Client, connect: Connect
) -> None:
    agent = await connect("pc-1-04")
    await patch(admin, f"/rooms/{room_id(hub, '1.04')}", {"name": "Leistung und Kasse"})
    update = await agent.expect(WorkstationUpdate, timeout=PUSH_BOUND)
    assert update.workstation.room is not None
    assert (update.workstation.room.number, update.workstation.room.name) == (
        "1.04",
        "Leistung und Kasse",
    )


async def test_a_pc_moved_to_another_site_is_told_that_sites_countdowns(
    hub: RunningHub, admin: httpx.Client, connect: Connect
) -> None:
    """The welcome's level settings are the site's: a move across sites brings the new ones."""

    async def post(path: str, body: dict[str, object]) -> int:
        response = await asyncio.to_thread(admin.post, f"{API}{path}", json=body)
        assert response.status_code == 201, response.text
        created = response.json()["id"]
        assert isinstance(created, int)
        return created

    site = await post("/sites", {"name": "Außenstelle Nord", "address": "Nordweg 2"})
    building = await post("/buildings", {"site_id": site, "name": "Haus N"})
    floor = await post("/floors", {"building_id": building, "name": "EG"})
    room = await post("/rooms", {"floor_id": floor, "number": "N.01", "name": "Beratung Nord"})
    policy = await asyncio.to_thread(
        admin.put,
        f"{API}/sites/{site}/policies/2",
        json={"scopes": ["neighbours", "security"], "cancel_window_s": 20, "countdown_s": 4},
    )
    assert policy.status_code == 200, policy.text
    agent = await connect("pc-1-02")
    assert agent.welcome.levels[1].countdown_s == 0  # the demo site's default

    await patch(admin, "/workstations/pc-1-02", {"room_id": room})
    update = await agent.expect(WorkstationUpdate, timeout=PUSH_BOUND)
    assert update.workstation.room is not None
    assert (update.workstation.room.number, update.workstation.room.building) == ("N.01", "Haus N")
    assert update.levels is not None
    settings = {int(s.level): (s.countdown_s, s.cancel_window_s) for s in update.levels}
    assert settings[2] == (4, 20)
    await patch(admin, "/workstations/pc-1-02", {"room_id": room_id(hub, "1.02")})
    back = await agent.expect(WorkstationUpdate, timeout=PUSH_BOUND)
    assert back.levels is not None
    assert {int(s.level): s.countdown_s for s in back.levels}[2] == 0
