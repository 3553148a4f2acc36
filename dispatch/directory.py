"""Sites, rooms, neighbours, workstations and operators: who and where."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.auth import hash_password, hash_token, token_matches, verify_password
from dispatch.database import Database
from dispatch.models import Building, Floor, Operator, Room, RoomNeighbour, Site, Workstation
from shared.domain import WorkstationRole
from shared.protocol import RoomRef, utc_now

REVOKED = "revoked"  # a workstation whose secret no longer opens a connection


class DirectoryError(ValueError):
    """A request that would leave the directory inconsistent; the message says why."""


@dataclass(frozen=True, slots=True)
class WorkstationView:
    id: str
    site_id: int
    role: WorkstationRole
    display_name: str
    room_id: int | None
    room: RoomRef | None


@dataclass(frozen=True, slots=True)
class OperatorView:
    id: int
    username: str
    display_name: str
    role: str


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
    return {
        room.id: RoomRef(
            number=room.number,
            name=room.name,
            floor=floor,
            building=building,
            entrance=room.entrance or None,
            phone=room.phone or None,
        )
        for room, floor, building in rows
    }


class Directory:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- set-up (CLI, demo, later the admin API) ---------------------------

    async def add_site(self, name: str, address: str = "") -> int:
        async with self._db.write() as session:
            site = Site(name=name, address=address)
            session.add(site)
            await session.flush()
            return site.id

    async def add_building(self, site_id: int, name: str, address: str = "") -> int:
        async with self._db.write() as session:
            if await session.scalar(
                select(Building.id).where(Building.site_id == site_id, Building.name == name)
            ):
                raise DirectoryError(f"building {name} exists already at this site")
            building = Building(site_id=site_id, name=name, address=address)
            session.add(building)
            await session.flush()
            return building.id

    async def add_floor(self, building_id: int, name: str, level: int = 0) -> int:
        async with self._db.write() as session:
            if await session.scalar(
                select(Floor.id).where(Floor.building_id == building_id, Floor.name == name)
            ):
                raise DirectoryError(f"floor {name} exists already in this building")
            floor = Floor(building_id=building_id, name=name, level=level)
            session.add(floor)
            await session.flush()
            return floor.id

    async def add_room(
        self,
        floor_id: int,
        number: str,
        name: str,
        *,
        phone: str = "",
        entrance: str = "",
        x_m: float | None = None,
        y_m: float | None = None,
    ) -> int:
        async with self._db.write() as session:
            site_id = await session.scalar(
                select(Building.site_id)
                .join(Floor, Floor.building_id == Building.id)
                .where(Floor.id == floor_id)
            )
            if site_id is None:
                raise DirectoryError(f"no floor {floor_id}")
            duplicate = await session.scalar(
                select(Room.id).where(Room.site_id == site_id, Room.number == number)
            )
            if duplicate is not None:
                raise DirectoryError(f"room {number} exists already at this site")
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
            session.add(room)
            await session.flush()
            return room.id

    async def link_rooms(self, room_id: int, neighbour_id: int) -> None:
        if room_id == neighbour_id:
            raise DirectoryError("a room cannot be its own neighbour")
        async with self._db.write() as session:
            for a, b in ((room_id, neighbour_id), (neighbour_id, room_id)):
                if await session.get(RoomNeighbour, (a, b)) is None:
                    session.add(RoomNeighbour(room_id=a, neighbour_id=b))

    async def room_id(self, site_id: int, number: str) -> int:
        async with self._db.read() as session:
            found = await session.scalar(
                select(Room.id).where(Room.site_id == site_id, Room.number == number)
            )
        if found is None:
            raise DirectoryError(f"no room {number} at site {site_id}")
        return found

    async def add_workstation(
        self,
        workstation_id: str,
        site_id: int,
        room_id: int | None,
        token: str,
        role: WorkstationRole = WorkstationRole.STAFF,
        display_name: str = "",
    ) -> None:
        async with self._db.write() as session:
            if await session.get(Workstation, workstation_id) is not None:
                raise DirectoryError(f"workstation {workstation_id} exists already")
            session.add(
                Workstation(
                    id=workstation_id,
                    site_id=site_id,
                    room_id=room_id,
                    role=role.value,
                    display_name=display_name,
                    token_hash=hash_token(token),
                    created_at=utc_now(),
                )
            )

    async def add_operator(self, username: str, password: str, role: str, display_name: str) -> int:
        async with self._db.write() as session:
            if await session.scalar(select(Operator.id).where(Operator.username == username)):
                raise DirectoryError(f"operator {username} exists already")
            operator = Operator(
                username=username,
                display_name=display_name,
                role=role,
                password_hash=hash_password(password),
                created_at=utc_now(),
            )
            session.add(operator)
            await session.flush()
            return operator.id

    async def is_empty(self) -> bool:
        async with self._db.read() as session:
            return await session.scalar(select(Site.id).limit(1)) is None

    # --- authentication -----------------------------------------------------

    async def authenticate_workstation(
        self, workstation_id: str, token: str
    ) -> WorkstationView | None:
        async with self._db.read() as session:
            ws = await session.get(Workstation, workstation_id)
            if ws is None or ws.state == REVOKED or not token_matches(ws.token_hash, token):
                return None
            refs = await room_refs(session, [ws.room_id] if ws.room_id is not None else [])
        return WorkstationView(
            id=ws.id,
            site_id=ws.site_id,
            role=WorkstationRole(ws.role),
            display_name=ws.display_name,
            room_id=ws.room_id,
            room=refs.get(ws.room_id) if ws.room_id is not None else None,
        )

    async def record_seen(self, seen: dict[str, tuple[datetime, str]]) -> None:
        """Last contact and agent version of many workstations in one transaction."""
        if not seen:
            return
        async with self._db.write() as session:
            for ws in await session.scalars(select(Workstation).where(Workstation.id.in_(seen))):
                ws.last_seen_at, ws.agent_version = seen[ws.id]

    async def authenticate_operator(self, username: str, password: str) -> OperatorView | None:
        async with self._db.read() as session:
            operator = await session.scalar(select(Operator).where(Operator.username == username))
        # argon2 costs ~50 ms of CPU by design: off the event loop that fans out alarms.
        stored_hash = operator.password_hash if operator else None
        if not await asyncio.to_thread(verify_password, stored_hash, password):
            return None
        assert operator is not None
        return _operator_view(operator)

    async def operator(self, operator_id: int) -> OperatorView | None:
        async with self._db.read() as session:
            operator = await session.get(Operator, operator_id)
        return _operator_view(operator) if operator else None


def _operator_view(operator: Operator) -> OperatorView:
    return OperatorView(
        id=operator.id,
        username=operator.username,
        display_name=operator.display_name,
        role=operator.role,
    )
