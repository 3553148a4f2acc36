"""Rooms (number unique per site, phone, position on the plan, entrance) and their neighbours."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field
from sqlalchemy import select

from dispatch.directory import site_setup
from dispatch.directory.rooms import effective_neighbours
from dispatch.store.models import Room, RoomNeighbour, Site
from dispatch.web.api.deps import DB, Admin, Reader, ScopeDep, actor, get_or_404, refusals
from dispatch.web.api.schemas import Input, Metres, Name, Output, Patch, Phone
from shared.domain import RoomLinkKind

router = APIRouter(tags=["rooms"])

Number = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[^\s,;]+( [^\s,;]+)*$")]
Entrance = Annotated[str, Field(max_length=120)]


class RoomIn(Input):
    floor_id: int
    number: Number = Field(description="Unique per site, e.g. 1.02")
    name: Name
    phone: Phone = ""
    x_m: Metres | None = Field(None, description="Position on the floor plan in metres")
    y_m: Metres | None = None
    entrance: Entrance = Field("", description="Nearest marked entrance or stairwell")


class RoomPatch(Patch):
    not_null = frozenset({"floor_id", "number", "name", "phone", "entrance"})
    floor_id: int | None = None
    number: Number | None = None
    name: Name | None = None
    phone: Phone | None = None
    x_m: Metres | None = None
    y_m: Metres | None = None
    entrance: Entrance | None = None


class RoomOut(Output):
    id: int
    site_id: int
    floor_id: int
    number: str
    name: str
    phone: str
    x_m: float | None
    y_m: float | None
    entrance: str


class NeighbourOut(Output):
    room_id: int
    number: str
    name: str
    source: Literal["link", "distance"] = Field(
        description="link: an admin joined the rooms; distance: within the site's radius"
    )
    distance_m: float | None


class ExcludedOut(Output):
    room_id: int
    number: str


class NeighboursOut(Output):
    room_id: int
    neighbour_radius_m: float
    neighbours: list[NeighbourOut]
    excluded: list[ExcludedOut] = Field(description="Rooms an admin keeps apart")


class NeighbourWord(Input):
    kind: RoomLinkKind = Field(
        description="link: neighbours whatever the distance; exclude: never neighbours"
    )


@router.get("/rooms", response_model=list[RoomOut], summary="List rooms")
async def list_rooms(
    _: Reader,
    db: DB,
    scope: ScopeDep,
    site_id: Annotated[int | None, Query()] = None,
    floor_id: Annotated[int | None, Query()] = None,
) -> list[Room]:
    query = select(Room).where(scope.where(Room.site_id)).order_by(Room.site_id, Room.number)
    if site_id is not None:
        query = query.where(Room.site_id == site_id)
    if floor_id is not None:
        query = query.where(Room.floor_id == floor_id)
    async with db.read() as session:
        return list(await session.scalars(query))


@router.post("/rooms", response_model=RoomOut, status_code=201, summary="Create a room")
async def create_room(body: RoomIn, operator: Admin, db: DB, scope: ScopeDep) -> Room:
    with refusals():
        return await site_setup.create_room(db, actor(operator), **body.model_dump(), scope=scope)


@router.get("/rooms/{room_id}", response_model=RoomOut, summary="One room")
async def get_room(room_id: int, _: Reader, db: DB, scope: ScopeDep) -> Room:
    async with db.read() as session:
        return await get_or_404(session, Room, room_id, "room", scope)


@router.patch("/rooms/{room_id}", response_model=RoomOut, summary="Change a room")
async def update_room(
    room_id: int, body: RoomPatch, operator: Admin, db: DB, scope: ScopeDep
) -> Room:
    with refusals():
        return await site_setup.update_room(
            db, actor(operator), room_id, body.changes(), scope=scope
        )


@router.delete("/rooms/{room_id}", status_code=204, summary="Delete a room nothing refers to")
async def delete_room(room_id: int, operator: Admin, db: DB, scope: ScopeDep) -> Response:
    with refusals():
        await site_setup.delete_room(db, actor(operator), room_id, scope=scope)
    return Response(status_code=204)


# --- neighbours --------------------------------------------------------------


@router.get(
    "/rooms/{room_id}/neighbours",
    response_model=NeighboursOut,
    summary="Effective neighbours: admin links plus rooms within the site's radius",
)
async def get_neighbours(room_id: int, _: Reader, db: DB, scope: ScopeDep) -> NeighboursOut:
    async with db.read() as session:
        room = await get_or_404(session, Room, room_id, "room", scope)
        site = await session.get(Site, room.site_id)
        found = await effective_neighbours(session, room_id)
        excluded_ids = set(
            await session.scalars(
                select(RoomNeighbour.neighbour_id).where(
                    RoomNeighbour.room_id == room_id, RoomNeighbour.kind == RoomLinkKind.EXCLUDE
                )
            )
        )
        ids = {n.room_id for n in found} | excluded_ids
        rooms = {r.id: r for r in await session.scalars(select(Room).where(Room.id.in_(ids)))}
    return NeighboursOut(
        room_id=room_id,
        neighbour_radius_m=site.neighbour_radius_m if site else 0.0,
        neighbours=[
            NeighbourOut(
                room_id=n.room_id,
                number=rooms[n.room_id].number,
                name=rooms[n.room_id].name,
                source=n.source,
                distance_m=n.distance_m,
            )
            for n in found
        ],
        excluded=[ExcludedOut(room_id=i, number=rooms[i].number) for i in sorted(excluded_ids)],
    )


@router.put(
    "/rooms/{room_id}/neighbours/{other_id}",
    response_model=NeighboursOut,
    summary="An admin's word on two rooms: link or exclude (stored both ways)",
)
async def put_neighbour(
    room_id: int, other_id: int, body: NeighbourWord, operator: Admin, db: DB, scope: ScopeDep
) -> NeighboursOut:
    with refusals():
        await site_setup.set_room_link(
            db, actor(operator), room_id, other_id, body.kind, scope=scope
        )
    return await get_neighbours(room_id, operator, db, scope)


@router.delete(
    "/rooms/{room_id}/neighbours/{other_id}",
    response_model=NeighboursOut,
    summary="Remove the admin's word; the distance rule alone decides again",
)
async def delete_neighbour(
    room_id: int, other_id: int, operator: Admin, db: DB, scope: ScopeDep
) -> NeighboursOut:
    with refusals():
        await site_setup.remove_room_link(db, actor(operator), room_id, other_id, scope=scope)
    return await get_neighbours(room_id, operator, db, scope)
