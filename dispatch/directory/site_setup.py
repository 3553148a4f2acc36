"""Set-up writes: sites, buildings, floors, rooms and the admin's word on room neighbours.

One function per write, for the admin API, the CLI and the demo alike: each
enforces its rules (a room number is unique per site, a room stays on its
site's floors, nothing is deleted while something refers to it), writes its
audit event and raises dispatch.directory.refusals errors. Each takes the
acting operator's ``SiteScope``: what lies outside it is not found.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from dispatch.directory.refusals import Conflict, Invalid, NotFound, OutOfScope
from dispatch.directory.site_scope import SiteScope, in_scope
from dispatch.store.audit import AuditTrail
from dispatch.store.database import Database
from dispatch.store.models import (
    Alarm,
    AlarmPolicy,
    Base,
    Building,
    Drill,
    EnrolmentCode,
    Entrance,
    Floor,
    OperatorSite,
    Room,
    RoomNeighbour,
    Site,
    Workstation,
)
from shared.domain import RoomLinkKind

Created = Site | Building | Floor | Room
Uses = tuple[tuple[type[Base], InstrumentedAttribute[Any], str], ...]
"""What may refer to a row: (model, its column holding the row's id, what to call them)."""

_SITE_USES: Uses = (
    (Building, Building.site_id, "buildings"),
    (Room, Room.site_id, "rooms"),
    (Workstation, Workstation.site_id, "workstations"),
    (EnrolmentCode, EnrolmentCode.site_id, "enrolment codes"),
    (Drill, Drill.site_id, "drills (their reports are history)"),
)
_ROOM_USES: Uses = (
    (Workstation, Workstation.room_id, "workstations are assigned to it"),
    (Alarm, Alarm.room_id, "alarms refer to it (kept for incident reports)"),
    (EnrolmentCode, EnrolmentCode.room_id, "enrolment codes pre-assign it"),
)


def diff(row: object, values: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Sets the values on an ORM row; returns {field: [old, new]} for those that changed."""
    changed: dict[str, list[Any]] = {}
    for key, value in values.items():
        old = getattr(row, key)
        if old != value:
            changed[key] = [old, value]
            setattr(row, key, value)
    return changed


# --- sites -------------------------------------------------------------------


async def create_site(
    db: Database,
    actor: str,
    name: str,
    address: str = "",
    police_notes: str = "",
    phone: str = "",
    neighbour_radius_m: float = 0.0,
    *,
    scope: SiteScope,
) -> Site:
    """A new site; only an operator covering every site makes one (it would be out of reach
    of one limited to sites)."""
    if not scope.unlimited:
        raise OutOfScope("an admin limited to sites cannot create sites")
    async with db.write() as session:
        site = Site(
            name=name,
            address=address,
            police_notes=police_notes,
            phone=phone,
            neighbour_radius_m=neighbour_radius_m,
        )
        await _created(session, site, actor, "site_created", "site_id", name=name)
        return site


async def update_site(
    db: Database, actor: str, site_id: int, values: Mapping[str, Any], *, scope: SiteScope
) -> Site:
    async with db.write() as session:
        site = await in_scope(session, Site, site_id, "site", scope)
        await _changed(session, site, values, actor, "site_changed", site_id=site.id)
        return site


async def delete_site(db: Database, actor: str, site_id: int, *, scope: SiteScope) -> None:
    """An empty site; what only configures it (coverage, policies) goes with it."""
    async with db.write() as session:
        site = await in_scope(session, Site, site_id, "site", scope)
        used = await _first_use(session, site_id, _SITE_USES)
        if used:
            raise Conflict(f"site {site_id} still has {used}; remove them first")
        for owned in (OperatorSite, AlarmPolicy):
            for row in await session.scalars(select(owned).where(owned.site_id == site_id)):
                await session.delete(row)
        await session.delete(site)
        (await AuditTrail.open(session)).append(
            actor, "site_deleted", site_id=site_id, name=site.name
        )


async def has_sites(db: Database) -> bool:
    async with db.read() as session:
        return await session.scalar(select(Site.id).limit(1)) is not None


# --- buildings ---------------------------------------------------------------


async def create_building(
    db: Database, actor: str, site_id: int, name: str, address: str = "", *, scope: SiteScope
) -> Building:
    async with db.write() as session:
        if not scope.covers(site_id) or await session.get(Site, site_id) is None:
            raise Invalid(f"no site {site_id}")
        await _unique_building(session, site_id, name, None)
        building = Building(site_id=site_id, name=name, address=address)
        await _created(session, building, actor, "building_created", "building_id", name=name)
        return building


async def update_building(
    db: Database, actor: str, building_id: int, values: Mapping[str, Any], *, scope: SiteScope
) -> Building:
    async with db.write() as session:
        building = await in_scope(session, Building, building_id, "building", scope)
        if "name" in values:
            await _unique_building(session, building.site_id, values["name"], building.id)
        await _changed(
            session, building, values, actor, "building_changed", building_id=building.id
        )
        return building


async def delete_building(db: Database, actor: str, building_id: int, *, scope: SiteScope) -> None:
    async with db.write() as session:
        building = await in_scope(session, Building, building_id, "building", scope)
        if await _first_use(session, building_id, ((Floor, Floor.building_id, "floors"),)):
            raise Conflict(f"building {building_id} still has floors; remove them first")
        await session.delete(building)
        (await AuditTrail.open(session)).append(
            actor, "building_deleted", building_id=building_id, name=building.name
        )


async def _unique_building(session: AsyncSession, site_id: int, name: str, own: int | None) -> None:
    same = Building.site_id == site_id, Building.name == name
    if await _taken(session, Building.id, same, own):
        raise Conflict(f"building {name!r} exists already at site {site_id}")


# --- floors ------------------------------------------------------------------


async def create_floor(
    db: Database,
    actor: str,
    building_id: int,
    name: str,
    level: int = 0,
    width_m: float | None = None,
    height_m: float | None = None,
    *,
    scope: SiteScope,
) -> Floor:
    async with db.write() as session:
        building = await session.get(Building, building_id)
        if building is None or not scope.covers(building.site_id):
            raise Invalid(f"no building {building_id}")
        await _unique_floor(session, building_id, name, None)
        floor = Floor(
            building_id=building_id,
            name=name,
            level=level,
            width_m=width_m,
            height_m=height_m,
            plan_file=None,
        )
        await _created(session, floor, actor, "floor_created", "floor_id", name=name)
        return floor


async def update_floor(
    db: Database, actor: str, floor_id: int, values: Mapping[str, Any], *, scope: SiteScope
) -> Floor:
    async with db.write() as session:
        floor = await in_scope(session, Floor, floor_id, "floor", scope)
        if "name" in values:
            await _unique_floor(session, floor.building_id, values["name"], floor.id)
        await _changed(session, floor, values, actor, "floor_changed", floor_id=floor.id)
        return floor


async def delete_floor(db: Database, actor: str, floor_id: int, *, scope: SiteScope) -> str | None:
    """An empty floor goes with its marked entrances (they belong to its plan).

    Returns the plan's file name, for the caller to delete once this is committed.
    """
    async with db.write() as session:
        floor = await in_scope(session, Floor, floor_id, "floor", scope)
        if await _first_use(session, floor_id, ((Room, Room.floor_id, "rooms"),)):
            raise Conflict(f"floor {floor_id} still has rooms; remove them first")
        entrances = await session.execute(delete(Entrance).where(Entrance.floor_id == floor_id))
        await session.delete(floor)
        (await AuditTrail.open(session)).append(
            actor,
            "floor_deleted",
            floor_id=floor_id,
            name=floor.name,
            entrances=getattr(entrances, "rowcount", 0),
        )
    return floor.plan_file


async def _unique_floor(
    session: AsyncSession, building_id: int, name: str, own: int | None
) -> None:
    same = Floor.building_id == building_id, Floor.name == name
    if await _taken(session, Floor.id, same, own):
        raise Conflict(f"floor {name!r} exists already in building {building_id}")


# --- rooms -------------------------------------------------------------------


async def create_room(
    db: Database,
    actor: str,
    floor_id: int,
    number: str,
    name: str,
    *,
    phone: str = "",
    entrance: str = "",
    x_m: float | None = None,
    y_m: float | None = None,
    scope: SiteScope,
) -> Room:
    """A room on a floor; its site is the floor's, and its number is unique there."""
    async with db.write() as session:
        site_id = await _site_of_floor(session, floor_id, scope)
        await _unique_number(session, site_id, number, None)
        room = Room(
            site_id=site_id,
            floor_id=floor_id,
            number=number,
            name=name,
            phone=phone,
            entrance=entrance,
            x_m=x_m,
            y_m=y_m,
        )
        await _created(session, room, actor, "room_created", "room_id", number=number)
        return room


async def update_room(
    db: Database, actor: str, room_id: int, values: Mapping[str, Any], *, scope: SiteScope
) -> Room:
    """A room may move to another floor of its own site only."""
    async with db.write() as session:
        room = await in_scope(session, Room, room_id, "room", scope)
        if "floor_id" in values and await _site_of_floor(session, values["floor_id"], scope) != (
            room.site_id
        ):
            raise Invalid(f"floor {values['floor_id']} belongs to another site")
        if "number" in values:
            await _unique_number(session, room.site_id, values["number"], room.id)
        await _changed(session, room, values, actor, "room_changed", room_id=room.id)
        return room


async def delete_room(db: Database, actor: str, room_id: int, *, scope: SiteScope) -> None:
    """A room nothing refers to; the admin's words on its neighbours go with it."""
    async with db.write() as session:
        room = await in_scope(session, Room, room_id, "room", scope)
        used = await _first_use(session, room_id, _ROOM_USES)
        if used:
            raise Conflict(f"room {room.number} cannot be deleted: {used}")
        await session.execute(
            delete(RoomNeighbour).where(
                (RoomNeighbour.room_id == room_id) | (RoomNeighbour.neighbour_id == room_id)
            )
        )
        await session.delete(room)
        (await AuditTrail.open(session)).append(
            actor, "room_deleted", room_id=room_id, number=room.number
        )


async def room_by_number(db: Database, site_id: int, number: str) -> int:
    """The id of the room with this number at the site (how the CLI names rooms)."""
    async with db.read() as session:
        found = await session.scalar(
            select(Room.id).where(Room.site_id == site_id, Room.number == number)
        )
    if found is None:
        raise Invalid(f"no room {number} at site {site_id}")
    return found


async def _site_of_floor(session: AsyncSession, floor_id: int, scope: SiteScope) -> int:
    """The floor's site; a floor out of scope is as unknown as a missing one."""
    site_id = await session.scalar(
        select(Building.site_id)
        .join(Floor, Floor.building_id == Building.id)
        .where(Floor.id == floor_id)
    )
    if site_id is None or not scope.covers(site_id):
        raise Invalid(f"no floor {floor_id}")
    return site_id


async def _unique_number(session: AsyncSession, site_id: int, number: str, own: int | None) -> None:
    same = Room.site_id == site_id, Room.number == number
    if await _taken(session, Room.id, same, own):
        raise Conflict(f"room {number} exists already at site {site_id}")


# --- room links --------------------------------------------------------------


async def set_room_link(
    db: Database, actor: str, room_id: int, other_id: int, kind: RoomLinkKind, *, scope: SiteScope
) -> None:
    """Links two rooms or keeps them apart, whatever their distance; stored both ways."""
    async with db.write() as session:
        room, other = await _pair(session, room_id, other_id, scope)
        for a, b in ((room.id, other.id), (other.id, room.id)):
            row = await session.get(RoomNeighbour, (a, b))
            if row is None:
                session.add(RoomNeighbour(room_id=a, neighbour_id=b, kind=kind))
            elif row.kind != kind:
                row.kind = kind
        (await AuditTrail.open(session)).append(
            actor, "room_neighbour_set", room_id=room.id, neighbour_id=other.id, kind=kind
        )


async def remove_room_link(
    db: Database, actor: str, room_id: int, other_id: int, *, scope: SiteScope
) -> None:
    """Removes the admin's word on two rooms: the distance rule alone decides again."""
    async with db.write() as session:
        room, other = await _pair(session, room_id, other_id, scope)
        result = await session.execute(
            delete(RoomNeighbour).where(
                ((RoomNeighbour.room_id == room.id) & (RoomNeighbour.neighbour_id == other.id))
                | ((RoomNeighbour.room_id == other.id) & (RoomNeighbour.neighbour_id == room.id))
            )
        )
        if not getattr(result, "rowcount", 0):
            raise NotFound(f"no link or exclude between rooms {room_id} and {other_id}")
        (await AuditTrail.open(session)).append(
            actor, "room_neighbour_removed", room_id=room.id, neighbour_id=other.id
        )


async def _pair(
    session: AsyncSession, room_id: int, other_id: int, scope: SiteScope
) -> tuple[Room, Room]:
    if room_id == other_id:
        raise Invalid("a room cannot be its own neighbour")
    room = await in_scope(session, Room, room_id, "room", scope)
    other = await in_scope(session, Room, other_id, "room", scope)
    if room.site_id != other.site_id:
        raise Invalid("rooms of different sites cannot be neighbours")
    return room, other


# --- shared steps ------------------------------------------------------------


async def _created(
    session: AsyncSession, row: Created, actor: str, action: str, id_key: str, **detail: Any
) -> None:
    """Adds the row and audits it with its new id under ``id_key``."""
    session.add(row)
    await session.flush()
    detail[id_key] = row.id
    (await AuditTrail.open(session)).append(actor, action, **detail)


async def _changed(
    session: AsyncSession, row: Base, values: Mapping[str, Any], actor: str, action: str, **ids: Any
) -> None:
    """Sets the values and audits what really changed (nothing changed: no event)."""
    changed = diff(row, values)
    if changed:
        (await AuditTrail.open(session)).append(actor, action, **ids, changes=changed)


async def _taken(
    session: AsyncSession,
    id_column: InstrumentedAttribute[int],
    where: tuple[ColumnElement[bool], ...],
    own: int | None,
) -> bool:
    """Whether another row than ``own`` matches ``where`` (a name or number in use)."""
    found = await session.scalar(select(id_column).where(*where))
    return found is not None and found != own


async def _first_use(session: AsyncSession, key: int, uses: Uses) -> str | None:
    """What the first kind of row still referring to ``key`` is called; None: nothing does."""
    for model, column, what in uses:
        if await session.scalar(select(model).where(column == key).limit(1)):
            return what
    return None
