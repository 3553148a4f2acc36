"""Sites, rooms, neighbours, workstations and operators: who and where."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from dispatch.auth import hash_password, hash_token, token_matches, verify_password
from dispatch.database import Database
from dispatch.models import Operator, Room, RoomNeighbour, Site, Workstation
from shared.domain import WorkstationRole
from shared.protocol import RoomRef, utc_now


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


def room_ref(room: Room) -> RoomRef:
    return RoomRef(number=room.number, name=room.name, floor=room.floor, building=room.building)


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

    async def add_room(
        self, site_id: int, number: str, name: str, floor: str, building: str | None = None
    ) -> int:
        async with self._db.write() as session:
            duplicate = await session.scalar(
                select(Room.id).where(Room.site_id == site_id, Room.number == number)
            )
            if duplicate is not None:
                raise DirectoryError(f"room {number} exists already at this site")
            room = Room(site_id=site_id, number=number, name=name, floor=floor, building=building)
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
            if ws is None or not token_matches(ws.token_hash, token):
                return None
            room = await session.get(Room, ws.room_id) if ws.room_id is not None else None
        return WorkstationView(
            id=ws.id,
            site_id=ws.site_id,
            role=WorkstationRole(ws.role),
            display_name=ws.display_name,
            room_id=ws.room_id,
            room=room_ref(room) if room else None,
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
