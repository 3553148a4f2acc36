"""An alarm's room is the mapping at store time, whatever the agent was told at connect.

The raiser's ``WorkstationView`` is read once, at its agent's handshake. An admin
may move the PC afterwards (admin page, REST, CSV import, CLI, plain SQL) while the
agent stays connected: the alarm must then be routed around the NEW room and name
the NEW room everywhere (stored row, record, popups, console), from one read of
the mapping. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from dispatch.alarms.record import AlarmRecord
from dispatch.alarms.store import AlarmStore
from dispatch.directory.authentication import Authenticator
from dispatch.directory.identities import WorkstationView
from dispatch.directory.site_scope import EVERY_SITE
from dispatch.directory.site_setup import (
    create_building,
    create_floor,
    create_room,
    create_site,
    set_room_link,
)
from dispatch.directory.workstations import add_workstation, update_workstation
from dispatch.store.database import Database
from dispatch.store.models import Alarm, AuditEvent
from shared.domain import AlarmLevel, RoomLinkKind, Trigger, WorkstationRole
from shared.protocol import RaiseAlarm, utc_now
from tests.storage.test_topology_version import raw_sql

ACTOR = "test"


@dataclass
class Site:
    db: Database
    authenticator: Authenticator
    alarms: AlarmStore
    rooms: dict[str, int]
    site_id: int
    other_site_id: int

    async def connected(self, workstation_id: str) -> WorkstationView:
        """The view a handshake reads now (and the hub keeps for the connection)."""
        view = await self.authenticator.authenticate_workstation(
            workstation_id, f"token-{workstation_id}"
        )
        assert view is not None
        return view

    async def move(self, workstation_id: str, room: str | None) -> None:
        """What the admin page, REST PATCH and CSV import do (workstations.update_workstation)."""
        room_id = None if room is None else self.rooms[room]
        await update_workstation(
            self.db, "admin", workstation_id, room_id=room_id, scope=EVERY_SITE
        )


@pytest.fixture
async def site(db: Database) -> Site:
    """Site 1: rooms A-B linked, C-D linked, security S on the same floor; site 2: room X.

    One PC per room, plus a pending PC without a room at site 1.
    """
    authenticator = Authenticator(db)
    site_id = (await create_site(db, ACTOR, "Jobcenter", "Teststraße 1", scope=EVERY_SITE)).id
    building = await create_building(db, ACTOR, site_id, "Haus 1", scope=EVERY_SITE)
    floor = (await create_floor(db, ACTOR, building.id, "1. OG", scope=EVERY_SITE)).id
    rooms = {
        n: (
            await create_room(
                db, ACTOR, floor, n, f"Beratung {n}", entrance="Treppenhaus 1", scope=EVERY_SITE
            )
        ).id
        for n in ("A", "B", "C", "D", "S")
    }
    await set_room_link(db, ACTOR, rooms["A"], rooms["B"], RoomLinkKind.LINK, scope=EVERY_SITE)
    await set_room_link(db, ACTOR, rooms["C"], rooms["D"], RoomLinkKind.LINK, scope=EVERY_SITE)
    other_site_id = (await create_site(db, ACTOR, "Außenstelle", "Nebenweg 2", scope=EVERY_SITE)).id
    other_building = await create_building(db, ACTOR, other_site_id, "Haus 9", scope=EVERY_SITE)
    other_floor = (await create_floor(db, ACTOR, other_building.id, "EG", scope=EVERY_SITE)).id
    rooms["X"] = (await create_room(db, ACTOR, other_floor, "X", "Beratung X", scope=EVERY_SITE)).id
    for ws, room, role in [
        ("pc-a", "A", WorkstationRole.STAFF),
        ("pc-b", "B", WorkstationRole.STAFF),
        ("pc-c", "C", WorkstationRole.STAFF),
        ("pc-d", "D", WorkstationRole.STAFF),
        ("pc-s", "S", WorkstationRole.SECURITY),
        ("pc-x", "X", WorkstationRole.STAFF),
        ("pc-new", None, WorkstationRole.STAFF),
    ]:
        room_id = rooms[room] if room else None
        site_of = other_site_id if room == "X" else site_id
        await add_workstation(db, ACTOR, ws, site_of, room_id, f"token-{ws}", role, ws.upper())
    return Site(db, authenticator, AlarmStore(db), rooms, site_id, other_site_id)


def alarm(level: AlarmLevel = AlarmLevel.THREAT, **extra: object) -> RaiseAlarm:
    return RaiseAlarm(
        alarm_id=uuid.uuid4(), level=level, trigger=Trigger.HOTKEY, raised_at=utc_now(), **extra
    )


def recipients(record: AlarmRecord) -> set[str]:
    return {r.workstation_id for r in record.recipients}


async def stored_room_id(db: Database, alarm_id: uuid.UUID) -> int | None:
    async with db.read() as session:
        return await session.scalar(select(Alarm.room_id).where(Alarm.id == str(alarm_id)))


async def test_a_pc_moved_while_connected_raises_with_the_new_room(site: Site) -> None:
    raiser = await site.connected("pc-a")  # connected while the PC is in A
    before, _ = await site.alarms.store(alarm(), raiser, "Frau A")
    assert before.room is not None
    assert before.room.number == "A"
    assert recipients(before) == {"pc-b", "pc-s"}

    await site.move("pc-a", "D")  # the agent stays connected: same view
    record, created = await site.alarms.store(alarm(), raiser, "Frau A")

    assert created
    assert recipients(record) == {"pc-c", "pc-s"}  # D's neighbour C, and security
    assert record.room is not None
    assert (record.room.number, record.room.name) == ("D", "Beratung D")
    assert (record.room.floor, record.room.building) == ("1. OG", "Haus 1")
    assert record.room_id == site.rooms["D"]
    assert record.site_id == site.site_id
    assert await stored_room_id(site.db, record.id) == site.rooms["D"]
    reread = await site.alarms.get(record.id)  # what the console and replays read later
    assert reread is not None
    assert (reread.room, reread.room_id, reread.floor_id, reread.site_id) == (
        record.room,
        record.room_id,
        record.floor_id,
        record.site_id,
    )


async def test_a_pending_pc_given_a_room_raises_with_it_and_one_unassigned_without(
    site: Site,
) -> None:
    pending = await site.connected("pc-new")
    unplaced, _ = await site.alarms.store(alarm(), pending, "Herr Neu")
    assert unplaced.room is None
    assert recipients(unplaced) == {"pc-s"}  # an unplaced raiser reaches security only

    await site.move("pc-new", "C")
    placed, _ = await site.alarms.store(alarm(), pending, "Herr Neu")
    assert placed.room is not None
    assert placed.room.number == "C"
    assert recipients(placed) == {"pc-d", "pc-s"}  # pc-c shares the raiser's room: never
    assert await stored_room_id(site.db, placed.id) == site.rooms["C"]

    moved_out = await site.connected("pc-b")
    await site.move("pc-b", None)  # the admin took its room away: pending again
    record, _ = await site.alarms.store(alarm(), moved_out, "Herr B")
    assert record.room is None
    assert record.room_id is None
    assert recipients(record) == {"pc-s"}
    assert await stored_room_id(site.db, record.id) is None


async def test_a_room_renamed_by_plain_sql_is_named_by_its_new_name(site: Site) -> None:
    """Names shown on popups come from the snapshot too, so renaming moves the counter
    (migration 0008): another process renaming the room, floor or building."""
    raiser = await site.connected("pc-a")
    await site.alarms.store(alarm(), raiser, "Frau A")  # the snapshot is in memory now
    await raw_sql(
        site.db,
        f"UPDATE rooms SET number = 'A1', name = 'Teamraum', entrance = 'Tür Nord',"  # noqa: S608
        f" phone = '123' WHERE id = {site.rooms['A']}",
        "UPDATE floors SET name = '2. OG'",
        "UPDATE buildings SET name = 'Haus Nord'",
    )
    record, _ = await site.alarms.store(alarm(), raiser, "Frau A")
    assert record.room is not None
    assert (record.room.number, record.room.name, record.room.entrance, record.room.phone) == (
        "A1",
        "Teamraum",
        "Tür Nord",
        "123",
    )
    assert (record.room.floor, record.room.building) == ("2. OG", "Haus Nord")


async def test_a_room_claim_is_compared_with_the_room_at_store_time(site: Site) -> None:
    raiser = await site.connected("pc-a")
    await site.move("pc-a", "D")
    await site.alarms.store(alarm(claimed_room="D"), raiser, "Frau A")  # right: nothing
    ignored, _ = await site.alarms.store(alarm(claimed_room="A"), raiser, "Frau A")
    async with site.db.read() as session:
        claims = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "room_claim_ignored")
            )
        ).all()
    assert [c.alarm_id for c in claims] == [str(ignored.id)]
    assert ignored.room is not None
    assert ignored.room.number == "D"


async def test_a_stored_alarm_keeps_its_room_and_site_after_its_pc_moved_away(
    site: Site,
) -> None:
    """The record (console, police panel) and its escalation stay with the room the
    person raised it in: moving the PC to another site afterwards changes neither."""
    raiser = await site.connected("pc-a")
    record, _ = await site.alarms.store(alarm(AlarmLevel.THREAT), raiser, "Frau A")
    await site.move("pc-a", "X")  # another site

    reread = await site.alarms.get(record.id)
    assert reread is not None
    assert reread.room is not None
    assert reread.room.number == "A"
    assert reread.site_id == site.site_id
    # Level 2's first step widens to the floor after 45 s: A's floor, not X's.
    [(escalated, added)] = await site.alarms.escalate_due(record.stored_at + timedelta(seconds=46))
    assert set(added) == {"pc-c", "pc-d"}
    assert escalated.site_id == site.site_id
    assert escalated.room is not None
    assert escalated.room.number == "A"
