"""Rooms (number unique per site, phone, position on the plan, entrance) and their neighbours."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import Field
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.api.deps import DB, Admin, Reader, actor, conflict, get_or_404, unprocessable
from dispatch.api.schemas import Input, Metres, Name, Output, Patch, Phone, diff
from dispatch.audit import AuditTrail
from dispatch.directory import EXCLUDE, effective_neighbours
from dispatch.models import (
    Alarm,
    Building,
    EnrolmentCode,
    Floor,
    Room,
    RoomNeighbour,
    Site,
    Workstation,
)

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
    kind: Literal["link", "exclude"] = Field(
        description="link: neighbours whatever the distance; exclude: never neighbours"
    )


@router.get("/rooms", response_model=list[RoomOut], summary="List rooms")
async def list_rooms(
    _: Reader,
    db: DB,
    site_id: Annotated[int | None, Query()] = None,
    floor_id: Annotated[int | None, Query()] = None,
) -> list[Room]:
    query = select(Room).order_by(Room.site_id, Room.number)
    if site_id is not None:
        query = query.where(Room.site_id == site_id)
    if floor_id is not None:
        query = query.where(Room.floor_id == floor_id)
    async with db.read() as session:
        return list(await session.scalars(query))


async def _site_of_floor(session: AsyncSession, floor_id: int) -> int:
    site_id = await session.scalar(
        select(Building.site_id)
        .join(Floor, Floor.building_id == Building.id)
        .where(Floor.id == floor_id)
    )
    if site_id is None:
        raise unprocessable(f"no floor {floor_id}")
    return site_id


async def _unique_number(session: AsyncSession, site_id: int, number: str, own: int | None) -> None:
    found = await session.scalar(
        select(Room.id).where(Room.site_id == site_id, Room.number == number)
    )
    if found is not None and found != own:
        raise conflict(f"room {number} exists already at site {site_id}")


@router.post("/rooms", response_model=RoomOut, status_code=201, summary="Create a room")
async def create_room(body: RoomIn, operator: Admin, db: DB) -> Room:
    async with db.write() as session:
        site_id = await _site_of_floor(session, body.floor_id)
        await _unique_number(session, site_id, body.number, None)
        room = Room(site_id=site_id, **body.model_dump())
        session.add(room)
        await session.flush()
        (await AuditTrail.open(session)).append(
            actor(operator), "room_created", room_id=room.id, number=room.number
        )
        return room


@router.get("/rooms/{room_id}", response_model=RoomOut, summary="One room")
async def get_room(room_id: int, _: Reader, db: DB) -> Room:
    async with db.read() as session:
        return await get_or_404(session, Room, room_id, "room")


@router.patch("/rooms/{room_id}", response_model=RoomOut, summary="Change a room")
async def update_room(room_id: int, body: RoomPatch, operator: Admin, db: DB) -> Room:
    async with db.write() as session:
        room = await get_or_404(session, Room, room_id, "room")
        values = body.changes()
        if "floor_id" in values and await _site_of_floor(session, values["floor_id"]) != (
            room.site_id
        ):
            raise unprocessable(f"floor {values['floor_id']} belongs to another site")
        if "number" in values:
            await _unique_number(session, room.site_id, values["number"], room.id)
        changed = diff(room, values)
        if changed:
            (await AuditTrail.open(session)).append(
                actor(operator), "room_changed", room_id=room.id, changes=changed
            )
        return room


@router.delete("/rooms/{room_id}", status_code=204, summary="Delete a room nothing refers to")
async def delete_room(room_id: int, operator: Admin, db: DB) -> Response:
    async with db.write() as session:
        room = await get_or_404(session, Room, room_id, "room")
        for model, column, what in (
            (Workstation, Workstation.room_id, "workstations are assigned to it"),
            (Alarm, Alarm.room_id, "alarms refer to it (kept for incident reports)"),
            (EnrolmentCode, EnrolmentCode.room_id, "enrolment codes pre-assign it"),
        ):
            if await session.scalar(select(model).where(column == room_id).limit(1)):
                raise conflict(f"room {room.number} cannot be deleted: {what}")
        await session.execute(
            delete(RoomNeighbour).where(
                (RoomNeighbour.room_id == room_id) | (RoomNeighbour.neighbour_id == room_id)
            )
        )
        await session.delete(room)
        (await AuditTrail.open(session)).append(
            actor(operator), "room_deleted", room_id=room_id, number=room.number
        )
    return Response(status_code=204)


# --- neighbours --------------------------------------------------------------


@router.get(
    "/rooms/{room_id}/neighbours",
    response_model=NeighboursOut,
    summary="Effective neighbours: admin links plus rooms within the site's radius",
)
async def get_neighbours(room_id: int, _: Reader, db: DB) -> NeighboursOut:
    async with db.read() as session:
        room = await get_or_404(session, Room, room_id, "room")
        site = await session.get(Site, room.site_id)
        found = await effective_neighbours(session, room_id)
        excluded_ids = set(
            await session.scalars(
                select(RoomNeighbour.neighbour_id).where(
                    RoomNeighbour.room_id == room_id, RoomNeighbour.kind == EXCLUDE
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


async def _pair(session: AsyncSession, room_id: int, other_id: int) -> tuple[Room, Room]:
    if room_id == other_id:
        raise unprocessable("a room cannot be its own neighbour")
    room = await get_or_404(session, Room, room_id, "room")
    other = await get_or_404(session, Room, other_id, "room")
    if room.site_id != other.site_id:
        raise unprocessable("rooms of different sites cannot be neighbours")
    return room, other


@router.put(
    "/rooms/{room_id}/neighbours/{other_id}",
    response_model=NeighboursOut,
    summary="An admin's word on two rooms: link or exclude (stored both ways)",
)
async def put_neighbour(
    room_id: int, other_id: int, body: NeighbourWord, operator: Admin, db: DB
) -> NeighboursOut:
    async with db.write() as session:
        room, other = await _pair(session, room_id, other_id)
        for a, b in ((room.id, other.id), (other.id, room.id)):
            row = await session.get(RoomNeighbour, (a, b))
            if row is None:
                session.add(RoomNeighbour(room_id=a, neighbour_id=b, kind=body.kind))
            else:
                row.kind = body.kind
        (await AuditTrail.open(session)).append(
            actor(operator),
            "room_neighbour_set",
            room_id=room.id,
            neighbour_id=other.id,
            kind=body.kind,
        )
    return await get_neighbours(room_id, operator, db)


@router.delete(
    "/rooms/{room_id}/neighbours/{other_id}",
    response_model=NeighboursOut,
    summary="Remove the admin's word; the distance rule alone decides again",
)
async def delete_neighbour(room_id: int, other_id: int, operator: Admin, db: DB) -> NeighboursOut:
    async with db.write() as session:
        room, other = await _pair(session, room_id, other_id)
        result = await session.execute(
            delete(RoomNeighbour).where(
                ((RoomNeighbour.room_id == room.id) & (RoomNeighbour.neighbour_id == other.id))
                | ((RoomNeighbour.room_id == other.id) & (RoomNeighbour.neighbour_id == room.id))
            )
        )
        if not getattr(result, "rowcount", 0):
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                f"no link or exclude between rooms {room_id} and {other_id}",
            )
        (await AuditTrail.open(session)).append(
            actor(operator), "room_neighbour_removed", room_id=room.id, neighbour_id=other.id
        )
    return await get_neighbours(room_id, operator, db)
