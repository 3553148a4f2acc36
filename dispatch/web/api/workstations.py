"""Workstations (PCs with the agent): list with online state, assign, revoke; room coverage."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Query, Request
from pydantic import Field
from sqlalchemy import select

from dispatch.directory import session_clients, workstations
from dispatch.live.protection import unprotected_reasons
from dispatch.settings import Settings
from dispatch.store.models import Building, Floor, Room, Workstation
from dispatch.web.api.deps import (
    DB,
    Admin,
    HubDep,
    Reader,
    ScopeDep,
    actor,
    get_or_404,
    refusals,
)
from dispatch.web.api.schemas import Id, Input, Output, Patch, from_row
from shared.domain import WorkstationRole, WorkstationState
from shared.protocol import CloseCode, utc_now

log = structlog.get_logger(__name__)

router = APIRouter(tags=["workstations"])


class WorkstationOut(Output):
    id: str
    hostname: str
    display_name: str
    site_id: int
    room_id: int | None
    room_number: str | None
    state: WorkstationState
    role: WorkstationRole
    last_seen_at: datetime | None
    agent_version: str | None
    online: bool = Field(description="An agent of this PC is connected to this hub right now")
    created_at: datetime
    revoked_at: datetime | None


class WorkstationPatch(Patch):
    not_null = frozenset({"role", "display_name"})
    room_id: Id | None = Field(
        None, description="Assign a room (a pending PC becomes active); null unassigns"
    )
    role: WorkstationRole | None = None
    display_name: str | None = Field(None, max_length=200)


class SessionClientIn(Input):
    client_name: str = Field(
        pattern=session_clients.CLIENT_NAME_PATTERN,
        description="The client device's computer name, as its remote sessions report it "
        "(CLIENTNAME, WTSClientName)",
    )
    room_id: Id = Field(description="The room the client device stands in")


class RevokeOut(Output):
    workstation: WorkstationOut
    closed_connections: int = Field(description="Live sockets the hub closed (code 4410)")


class CoverageWorkstation(Output):
    id: str
    hostname: str
    state: WorkstationState
    online: bool
    last_seen_at: datetime | None = None
    self_test_ok: bool | None = Field(None, description="The last self-test; null: none yet")
    self_test_at: datetime | None = None
    unprotected_reasons: list[str] = Field(
        default_factory=list,
        description="Why this PC is not protected ([]: it is): 'offline', 'no_room', "
        "'self_test_failed', and what its agent reported ('hotkey_unavailable', 'no_tray', …)",
    )


class CoverageRoom(Output):
    room_id: int
    site_id: int
    number: str
    name: str
    floor: str
    building: str
    workstations: list[CoverageWorkstation]
    online: int
    protected: bool = Field(
        description="At least one active workstation in the room is online and has no "
        "unprotected_reasons"
    )


class CoverageOut(Output):
    rooms: list[CoverageRoom]
    unprotected_rooms: int
    unassigned: list[CoverageWorkstation] = Field(
        description="Pending PCs without a room: their alarms go to security only"
    )
    opening_hours: str = Field("", description="SILENT_ALARM_OPENING_HOURS (empty: always)")
    open_now: bool = Field(True, description="The offices are open now: gaps matter most")


def _out(ws: Workstation, room_number: str | None, online: bool) -> WorkstationOut:
    return from_row(WorkstationOut, ws, room_number=room_number, online=online)


@router.get("/workstations", response_model=list[WorkstationOut], summary="List workstations")
async def list_workstations(
    _: Reader,
    db: DB,
    hub: HubDep,
    scope: ScopeDep,
    site_id: Annotated[Id | None, Query()] = None,
    state: Annotated[WorkstationState | None, Query()] = None,
) -> list[WorkstationOut]:
    query = (
        select(Workstation, Room.number)
        .outerjoin(Room, Room.id == Workstation.room_id)
        .where(scope.where(Workstation.site_id))
        .order_by(Workstation.id)
    )
    if site_id is not None:
        query = query.where(Workstation.site_id == site_id)
    if state is not None:
        query = query.where(Workstation.state == state)
    online = hub.online_workstations()
    async with db.read() as session:
        rows = (await session.execute(query)).all()
    return [_out(ws, number, ws.id in online) for ws, number in rows]


async def _one(db: DB, hub: HubDep, workstation_id: str, scope: ScopeDep) -> WorkstationOut:
    async with db.read() as session:
        ws = await get_or_404(session, Workstation, workstation_id, "workstation", scope)
        room = await session.get(Room, ws.room_id) if ws.room_id is not None else None
    return _out(ws, room.number if room else None, hub.is_online(ws.id))


@router.get(
    "/workstations/{workstation_id}", response_model=WorkstationOut, summary="One workstation"
)
async def get_workstation(
    workstation_id: str, _: Reader, db: DB, hub: HubDep, scope: ScopeDep
) -> WorkstationOut:
    return await _one(db, hub, workstation_id, scope)


@router.patch(
    "/workstations/{workstation_id}",
    response_model=WorkstationOut,
    summary="Assign a room (pending becomes active), a role or a display name",
)
async def update_workstation(
    workstation_id: str,
    body: WorkstationPatch,
    operator: Admin,
    db: DB,
    hub: HubDep,
    scope: ScopeDep,
) -> WorkstationOut:
    values = body.changes()
    with refusals():
        await workstations.update_workstation(
            db,
            actor(operator),
            workstation_id,
            room_id=values.get("room_id", workstations.KEEP),
            role=values.get("role"),
            display_name=values.get("display_name"),
            scope=scope,
        )
    return await _one(db, hub, workstation_id, scope)


@router.post(
    "/session-clients",
    response_model=WorkstationOut,
    status_code=201,
    summary="Map a terminal server client (thin client) to a room before its first session",
)
async def create_session_client(
    body: SessionClientIn, operator: Admin, db: DB, hub: HubDep, scope: ScopeDep
) -> WorkstationOut:
    with refusals():
        await session_clients.add_session_client(
            db, actor(operator), body.client_name, body.room_id, scope=scope
        )
    return await _one(db, hub, body.client_name, scope)


@router.post(
    "/workstations/{workstation_id}/revoke",
    response_model=RevokeOut,
    summary="Revoke the device secret and close the PC's live connections at once (4410)",
)
async def revoke_workstation(
    workstation_id: str, operator: Admin, db: DB, hub: HubDep, scope: ScopeDep
) -> RevokeOut:
    with refusals():
        await workstations.revoke_workstation(db, actor(operator), workstation_id, scope=scope)
    started = time.monotonic()
    closed = await hub.disconnect(workstation_id, CloseCode.REVOKED, "revoked")
    log.info(
        "workstation_disconnected",
        workstation=workstation_id,
        connections=closed,
        ms=round((time.monotonic() - started) * 1000, 1),
    )
    return RevokeOut(
        workstation=await _one(db, hub, workstation_id, scope), closed_connections=closed
    )


@router.get(
    "/coverage",
    response_model=CoverageOut,
    summary="Every room with its workstations; rooms without an online agent are unprotected",
)
async def coverage(
    _: Reader,
    db: DB,
    hub: HubDep,
    request: Request,
    scope: ScopeDep,
    site_id: Annotated[Id | None, Query()] = None,
) -> CoverageOut:
    online = hub.online_workstations()
    rooms_query = (
        select(Room, Floor.name, Building.name)
        .join(Floor, Floor.id == Room.floor_id)
        .join(Building, Building.id == Floor.building_id)
        .where(scope.where(Room.site_id))
        .order_by(Room.site_id, Room.number)
    )
    ws_query = (
        select(Workstation)
        .where(Workstation.state != WorkstationState.REVOKED, scope.where(Workstation.site_id))
        .order_by(Workstation.id)
    )
    if site_id is not None:
        rooms_query = rooms_query.where(Room.site_id == site_id)
        ws_query = ws_query.where(Workstation.site_id == site_id)
    async with db.read() as session:
        rooms = (await session.execute(rooms_query)).all()
        workstations = list(await session.scalars(ws_query))
    by_room: dict[int, list[CoverageWorkstation]] = {}
    unassigned: list[CoverageWorkstation] = []
    for ws in workstations:
        entry = CoverageWorkstation(
            id=ws.id,
            hostname=ws.hostname,
            state=WorkstationState(ws.state),
            online=ws.id in online,
            last_seen_at=ws.last_seen_at,
            self_test_ok=ws.self_test_ok,
            self_test_at=ws.self_test_at,
            unprotected_reasons=unprotected_reasons(
                online=ws.id in online,
                agent=hub.agent_reasons(ws.id),
                has_room=ws.room_id is not None,
                self_test_ok=ws.self_test_ok,
            ),
        )
        if ws.room_id is None:
            unassigned.append(entry)
        else:
            by_room.setdefault(ws.room_id, []).append(entry)
    out = []
    for room, floor, building in rooms:
        members = by_room.get(room.id, [])
        count = sum(1 for m in members if m.online and m.state == WorkstationState.ACTIVE)
        working = sum(
            1 for m in members if m.state == WorkstationState.ACTIVE and not m.unprotected_reasons
        )
        out.append(
            CoverageRoom(
                room_id=room.id,
                site_id=room.site_id,
                number=room.number,
                name=room.name,
                floor=floor,
                building=building,
                workstations=members,
                online=count,
                protected=working > 0,
            )
        )
    settings: Settings = request.app.state.settings
    return CoverageOut(
        rooms=out,
        unprotected_rooms=sum(1 for r in out if not r.protected),
        unassigned=unassigned,
        opening_hours=settings.opening_hours,
        open_now=settings.office_hours.is_open(utc_now()),
    )
