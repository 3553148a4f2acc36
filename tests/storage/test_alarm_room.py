"""The room an alarm names is the room it was routed by, also for a PC moved while connected.

The raiser's view is read at its handshake; an admin may move the PC later. Routing
uses the store's current placement, so the popup, the console and the
stored alarm must name that room too, with its entrance and phone, never the old one.
"""

from __future__ import annotations

import uuid

from dispatch.alarms.store import AlarmStore
from dispatch.directory.authentication import Authenticator
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
from shared.domain import AlarmLevel, RoomLinkKind, Trigger, WorkstationRole
from shared.protocol import RaiseAlarm, utc_now

ACTOR = "test"


async def test_a_pc_moved_since_its_handshake_raises_for_its_new_room(db: Database) -> None:
    authenticator = Authenticator(db)
    site_id = (await create_site(db, ACTOR, "Test", "Teststraße 1", scope=EVERY_SITE)).id
    building = await create_building(db, ACTOR, site_id, "Haus 1", scope=EVERY_SITE)
    floor = (await create_floor(db, ACTOR, building.id, "1. OG", scope=EVERY_SITE)).id
    rooms = {
        number: (
            await create_room(
                db,
                ACTOR,
                floor,
                number,
                f"Raum {number}",
                phone=f"-{number}",
                entrance=f"Tür {number}",
                scope=EVERY_SITE,
            )
        ).id
        for number in ("A", "B", "C", "D")
    }
    await set_room_link(db, ACTOR, rooms["A"], rooms["B"], RoomLinkKind.LINK, scope=EVERY_SITE)
    await set_room_link(db, ACTOR, rooms["C"], rooms["D"], RoomLinkKind.LINK, scope=EVERY_SITE)
    for ws, room in [("pc-a", "A"), ("pc-b", "B"), ("pc-d", "D")]:
        await add_workstation(
            db, ACTOR, ws, site_id, rooms[room], f"token-{ws}", WorkstationRole.STAFF, ws
        )
    seen_at_handshake = await authenticator.authenticate_workstation("pc-a", "token-pc-a")
    assert seen_at_handshake is not None
    assert seen_at_handshake.room_at_connect is not None
    assert seen_at_handshake.room_at_connect.number == "A"

    await update_workstation(
        db, "test", "pc-a", room_id=rooms["C"], scope=EVERY_SITE
    )  # while connected
    alarms = AlarmStore(db)
    message = RaiseAlarm(
        alarm_id=uuid.uuid4(), level=AlarmLevel.THREAT, trigger=Trigger.HOTKEY, raised_at=utc_now()
    )
    record, _ = await alarms.store(message, seen_at_handshake, "Frau A")

    assert {r.workstation_id for r in record.recipients} == {"pc-d"}  # C's neighbour
    assert record.room_id == rooms["C"]
    assert record.room is not None
    assert (record.room.number, record.room.entrance, record.room.phone) == ("C", "Tür C", "-C")
    stored = await alarms.get(message.alarm_id)
    assert stored is not None
    assert stored.room_id == rooms["C"]
    assert stored.room == record.room
