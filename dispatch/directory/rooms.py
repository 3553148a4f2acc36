"""Rooms as people are told them, and each room's effective neighbours (reads only)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.directory import topology
from dispatch.directory.refusals import NotFound
from dispatch.store.models import Building, Floor, Room, RoomNeighbour, Site
from shared.domain import RoomLinkKind
from shared.protocol import RoomRef


async def room_refs(session: AsyncSession, room_ids: Iterable[int]) -> dict[int, RoomRef]:
    """What recipients are told about rooms: number, name, floor, building, entrance."""
    wanted = set(room_ids)
    if not wanted:
        return {}
    rows = await session.execute(
        select(Room, Floor.name, Building.name)
        .join(Floor, Floor.id == Room.floor_id)
        .join(Building, Building.id == Floor.building_id)
        .where(Room.id.in_(wanted))
    )
    return {room.id: room_ref(room, floor, building) for room, floor, building in rows}


def room_ref(room: Room, floor: str, building: str | None) -> RoomRef:
    """A room as people are told it: number, name, floor, building, entrance, phone."""
    return RoomRef(
        number=room.number,
        name=room.name,
        floor=floor,
        building=building,
        entrance=room.entrance or None,
        phone=room.phone or None,
    )


@dataclass(frozen=True, slots=True)
class EffectiveNeighbour:
    room_id: int
    source: Literal["link", "distance"]
    distance_m: float | None


async def effective_neighbours(session: AsyncSession, room_id: int) -> list[EffectiveNeighbour]:
    """The room's neighbours by dispatch.directory.topology: admin links plus the radius rule."""
    room = await session.get(Room, room_id)
    if room is None:
        raise NotFound(f"no room {room_id}")
    site = await session.get(Site, room.site_id)
    radius = site.neighbour_radius_m if site is not None else 0.0
    words = (
        await session.execute(
            select(RoomNeighbour.neighbour_id, RoomNeighbour.kind).where(
                RoomNeighbour.room_id == room_id
            )
        )
    ).all()
    links = {n for n, kind in words if kind == RoomLinkKind.LINK}
    excludes = {n for n, kind in words if kind == RoomLinkKind.EXCLUDE}
    same_floor = list(await session.scalars(select(Room).where(Room.floor_id == room.floor_id)))
    placed = {r.id: topology.PlacedRoom(r.id, r.floor_id, r.x_m, r.y_m) for r in same_floor}
    found = topology.neighbours(
        topology.PlacedRoom(room.id, room.floor_id, room.x_m, room.y_m),
        placed.values(),
        links,
        excludes,
        radius,
    )
    result = []
    for other in sorted(found):
        spot = placed.get(other)
        distance: float | None = None
        if (
            spot is not None
            and room.x_m is not None
            and room.y_m is not None
            and spot.x_m is not None
            and spot.y_m is not None
        ):
            distance = math.dist((room.x_m, room.y_m), (spot.x_m, spot.y_m))
        result.append(EffectiveNeighbour(other, "link" if other in links else "distance", distance))
    return result
