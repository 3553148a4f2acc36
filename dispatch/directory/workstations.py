"""Workstation writes: register a PC by hand, assign its room, role or name, revoke it."""

from __future__ import annotations

from typing import Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.directory.credentials import hash_token
from dispatch.directory.refusals import Conflict, Invalid
from dispatch.directory.site_scope import SiteScope, in_scope
from dispatch.store.audit import AuditTrail
from dispatch.store.database import Database
from dispatch.store.models import Room, Workstation
from shared.domain import WorkstationRole, WorkstationState
from shared.protocol import utc_now

log = structlog.get_logger(__name__)

KEEP: Literal["keep"] = "keep"
"""``room_id=KEEP``: leave the room as it is (``None`` unassigns it)."""


async def add_workstation(
    db: Database,
    actor: str,
    workstation_id: str,
    site_id: int,
    room_id: int | None,
    token: str,
    role: WorkstationRole = WorkstationRole.STAFF,
    display_name: str = "",
) -> None:
    """A PC registered without enrolment (CLI, demo): its token is given, only its hash kept."""
    async with db.write() as session:
        if await session.get(Workstation, workstation_id) is not None:
            raise Conflict(f"workstation {workstation_id} exists already")
        session.add(
            Workstation(
                id=workstation_id,
                site_id=site_id,
                room_id=room_id,
                role=role,
                display_name=display_name,
                token_hash=hash_token(token),
                created_at=utc_now(),
            )
        )
        (await AuditTrail.open(session)).append(
            actor,
            "workstation_created",
            workstation_id=workstation_id,
            room_id=room_id,
            site_id=site_id,
            role=role,
            display_name=display_name,
        )


async def update_workstation(
    db: Database,
    actor: str,
    workstation_id: str,
    *,
    room_id: int | Literal["keep"] | None = KEEP,
    role: WorkstationRole | None = None,
    display_name: str | None = None,
    scope: SiteScope,
) -> None:
    """Assigns a room (pending becomes active; no room makes it pending), role or name."""
    async with db.write() as session:
        ws = await in_scope(session, Workstation, workstation_id, "workstation", scope)
        changes = await change_workstation(session, ws, room_id, role, display_name, scope)
        if changes:
            (await AuditTrail.open(session)).append(
                actor,
                "workstation_changed",
                workstation_id=ws.id,
                room_id=ws.room_id,
                changes=changes,
            )


async def revoke_workstation(
    db: Database, actor: str, workstation_id: str, *, scope: SiteScope
) -> bool:
    """Revokes the device secret; False if it was revoked already (nothing written)."""
    async with db.write() as session:
        ws = await in_scope(session, Workstation, workstation_id, "workstation", scope)
        if ws.state == WorkstationState.REVOKED:
            return False
        previous = ws.state
        ws.state, ws.revoked_at = WorkstationState.REVOKED, utc_now()
        (await AuditTrail.open(session)).append(
            actor,
            "workstation_revoked",
            workstation_id=ws.id,
            room_id=ws.room_id,
            previous_state=previous,
        )
    log.info("workstation_revoked", workstation=workstation_id, actor=actor)
    return True


async def change_workstation(
    session: AsyncSession,
    ws: Workstation,
    room_id: int | Literal["keep"] | None,
    role: WorkstationRole | None,
    display_name: str | None,
    scope: SiteScope,
) -> dict[str, list[object]]:
    """Changes one workstation inside the caller's transaction; returns {field: [old, new]}.

    The one place the rules live: a revoked PC stays revoked, a room of another
    site moves the PC there (only within ``scope``: a room out of it is unknown),
    and the state follows the room (none: pending).
    """
    if ws.state == WorkstationState.REVOKED:
        raise Conflict(f"workstation {ws.id} is revoked; enrol the PC again")
    changes: dict[str, list[object]] = {}
    if room_id != KEEP and room_id != ws.room_id:
        if room_id is not None:
            room = await session.get(Room, room_id)
            if room is None or not scope.covers(room.site_id):
                raise Invalid(f"no room {room_id}")
            if room.site_id != ws.site_id:
                changes["site_id"] = [ws.site_id, room.site_id]
                ws.site_id = room.site_id
        changes["room_id"] = [ws.room_id, room_id]
        ws.room_id = room_id
    new_state = WorkstationState.PENDING if ws.room_id is None else WorkstationState.ACTIVE
    if new_state != ws.state:
        changes["state"] = [ws.state, new_state.value]
        ws.state = new_state
    if role is not None and role != ws.role:
        changes["role"] = [ws.role, role.value]
        ws.role = role
    if display_name is not None and display_name != ws.display_name:
        changes["display_name"] = [ws.display_name, display_name]
        ws.display_name = display_name
    return changes
