"""Last contact of many workstations in one write, and the handshake's credentials read."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select

from dispatch.directory.authentication import Authenticator
from dispatch.directory.site_scope import EVERY_SITE
from dispatch.directory.site_setup import create_building, create_floor, create_room, create_site
from dispatch.directory.workstations import add_workstation, revoke_workstation
from dispatch.store.database import Database
from dispatch.store.models import Workstation

ACTOR = "test"

WORKSTATIONS = [f"pc-{i:03d}" for i in range(120)]


async def fleet(db: Database) -> Authenticator:
    site_id = (await create_site(db, ACTOR, "Test", "Teststraße 1", scope=EVERY_SITE)).id
    building = await create_building(db, ACTOR, site_id, "Haus 1", scope=EVERY_SITE)
    floor = (await create_floor(db, ACTOR, building.id, "1. OG", scope=EVERY_SITE)).id
    room = (
        await create_room(
            db, ACTOR, floor, "1.01", "Beratung", entrance="Eingang B", scope=EVERY_SITE
        )
    ).id
    for ws in WORKSTATIONS:
        await add_workstation(db, ACTOR, ws, site_id, room, f"token-{ws}")
    return Authenticator(db)


async def seen_columns(db: Database) -> dict[str, tuple[datetime | None, str | None]]:
    async with db.read() as session:
        rows = await session.execute(
            select(Workstation.id, Workstation.last_seen_at, Workstation.agent_version)
        )
        return {ws: (at, version) for ws, at, version in rows}


async def test_every_workstation_gets_its_own_time_and_version_and_revoked_ones_are_named(
    db: Database,
) -> None:
    authenticator = await fleet(db)
    await revoke_workstation(db, "admin", "pc-007", scope=EVERY_SITE)
    seen = {
        ws: (datetime(2026, 11, 23, 4, i // 60, i % 60, tzinfo=UTC), f"2.{i}")
        for i, ws in enumerate(WORKSTATIONS)
    }
    seen["pc-unknown"] = (datetime(2026, 11, 23, tzinfo=UTC), "1.0")  # deleted meanwhile

    revoked = await authenticator.record_seen(seen)

    assert revoked == {"pc-007"}
    stored = await seen_columns(db)
    assert "pc-unknown" not in stored  # nothing inserted for it
    assert stored.pop("pc-007") == (None, None)  # a revoked workstation's row is left alone
    assert stored == {ws: seen[ws] for ws in WORKSTATIONS if ws != "pc-007"}


async def test_a_later_round_overwrites_the_earlier_one(db: Database) -> None:
    authenticator = await fleet(db)
    first, later = datetime(2026, 11, 23, 4, tzinfo=UTC), datetime(2026, 11, 23, 5, tzinfo=UTC)
    await authenticator.record_seen({"pc-001": (first, "2.0"), "pc-002": (first, "2.0")})
    await authenticator.record_seen({"pc-001": (later, "2.1")})

    stored = await seen_columns(db)
    assert stored["pc-001"] == (later, "2.1")
    assert stored["pc-002"] == (first, "2.0")


async def test_handshakes_arriving_together_each_get_their_own_workstation(db: Database) -> None:
    """The credentials read is one statement for many; each agent still gets only its own."""
    authenticator = await fleet(db)
    await revoke_workstation(db, "admin", "pc-003", scope=EVERY_SITE)

    views = await asyncio.gather(
        *(authenticator.authenticate_workstation(ws, f"token-{ws}") for ws in WORKSTATIONS[:10]),
        authenticator.authenticate_workstation("pc-004", "token-pc-005"),  # another PC's token
    )

    *own, wrong_token = views
    assert wrong_token is None
    assert [v.id if v else None for v in own] == [
        None if ws == "pc-003" else ws for ws in WORKSTATIONS[:10]
    ]
    assert own[0] is not None
    room = own[0].room_at_connect  # what its welcome will name
    assert room is not None
    assert (room.number, room.entrance) == ("1.01", "Eingang B")
