"""Remote sessions' client devices: which workstation row a session's client name maps to.

On a terminal server (RDS, Citrix, xrdp) one host serves people in many rooms, so
a session's room is its client device's (the thin client or PC the person sits
at), never the host's (issue 19). A client is a workstation row like a PC: its id
is the client name, and the admin maps it to a room in the same places (admin
pages, REST, the CSV import). A client name the hub has not seen is registered as
a pending workstation of the host's site, so it shows on the coverage board as
"no room" and in the admin's list of PCs waiting for one; until it has a room, its
alarms go to security only, as a pending PC's do. A client row made here has no
device secret (an empty hash, which no token matches): only a host's session can
speak for it.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.directory.identities import WorkstationView
from dispatch.directory.refusals import Conflict, Invalid
from dispatch.directory.site_scope import SiteScope
from dispatch.store.audit import AuditTrail
from dispatch.store.database import Database
from dispatch.store.models import Room, Workstation
from shared.domain import WorkstationRole, WorkstationState
from shared.protocol import utc_now

NO_SECRET = ""
"""The token hash of a client registered by a session: no SHA-256 hex digest equals it."""


CLIENT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
"""What an admin may register ahead: a computer name. Sessions register what they report
(shared.protocol.RemoteSession's bound), since the client, not the admin, chose it."""


def is_client_name(name: str) -> bool:
    """Whether an admin may register ``name`` ahead (``CLIENT_NAME_PATTERN``)."""
    return re.fullmatch(CLIENT_NAME_PATTERN, name) is not None


class ClientRevoked(Conflict):
    """The client's workstation row is revoked: its sessions are refused (4410)."""


async def session_client_id(db: Database, host: WorkstationView, client_name: str) -> str:
    """The workstation id of the client ``client_name`` of a session on ``host``.

    Matched case-insensitively (Windows computer names are), the exact spelling
    first; registered as a pending client of the host's site when unknown. Refused
    for a revoked client (``ClientRevoked``) and for one of another site or named
    ambiguously (``Invalid``): a host must not speak for PCs it cannot serve.
    """
    for _ in range(2):  # a second try only after losing a race to register the same name
        found = await _matching(db, client_name)
        if found is not None:
            return _usable(found, host, client_name)
        try:
            registered = await _register(db, host, client_name)
        except IntegrityError:
            continue
        if registered:
            return client_name
    raise Conflict(f"client {client_name} could not be registered; reconnect")


async def _matching(db: Database, client_name: str) -> Workstation | None:
    async with db.read() as session:
        rows = list(
            await session.scalars(
                select(Workstation).where(func.lower(Workstation.id) == client_name.lower())
            )
        )
    exact = [row for row in rows if row.id == client_name]
    if exact:
        return exact[0]
    if len(rows) > 1:
        raise Invalid(
            f"client name {client_name} matches several workstations "
            f"({', '.join(sorted(r.id for r in rows))})"
        )
    return rows[0] if rows else None


def _usable(row: Workstation, host: WorkstationView, client_name: str) -> str:
    if row.state == WorkstationState.REVOKED:
        raise ClientRevoked(f"client {row.id} is revoked")
    if row.site_id != host.site_id:
        raise Invalid(f"client {client_name} belongs to another site than host {host.id}")
    return row.id


async def _register(db: Database, host: WorkstationView, client_name: str) -> bool:
    """Adds the client; False if meanwhile a workstation took its name in another spelling
    (an admin's import or another session), which the primary key would not refuse."""
    async with db.write() as session:
        # The audit chain's lock before the name is read again, as every writer creating
        # a client takes it (``create_client``): a writer holding it never waits for this
        # row, and one that held it has committed its clients by now.
        audit = await AuditTrail.open(session)
        if await _taken(session, client_name) is not None:
            return False
        session.add(
            Workstation(
                id=client_name,
                site_id=host.site_id,
                room_id=None,
                role=WorkstationRole.STAFF,
                state=WorkstationState.PENDING,
                hostname=client_name,
                display_name="",
                token_hash=NO_SECRET,
                created_at=utc_now(),
            )
        )
        audit.append(
            f"workstation:{host.id}",
            "session_client_registered",
            workstation_id=client_name,
            site_id=host.site_id,
            host=host.id,
        )
    return True


async def _taken(session: AsyncSession, client_name: str) -> str | None:
    """The id of a workstation with this name in any spelling."""
    found: str | None = await session.scalar(
        select(Workstation.id).where(func.lower(Workstation.id) == client_name.lower()).limit(1)
    )
    return found


async def add_session_client(
    db: Database, actor: str, client_name: str, room_id: int, *, scope: SiteScope
) -> None:
    """An admin maps a client device to a room before its first session (REST, CLI).

    The client becomes an active workstation of the room's site without a device
    secret; a name already taken (in any spelling) is a conflict: its room is then
    changed like any PC's.
    """
    async with db.write() as session:
        audit = await AuditTrail.open(session)  # before the name is read: ``create_client``
        taken = await _taken(session, client_name)
        if taken is not None:
            raise Conflict(f"workstation {taken} exists already; assign its room instead")
        room = await session.get(Room, room_id)
        if room is None or not scope.covers(room.site_id):
            raise Invalid(f"no room {room_id}")
        create_client(session, audit, actor, client_name, room.site_id, room.id)


def create_client(
    session: AsyncSession,
    audit: AuditTrail | None,
    actor: str,
    client_name: str,
    site_id: int,
    room_id: int,
    role: WorkstationRole = WorkstationRole.STAFF,
    **detail: Any,
) -> None:
    """Adds a client mapped ahead inside the caller's transaction (``add_session_client``,
    the CSV import's ``kind`` ``client`` rows), once the caller has checked that its name is
    free in any spelling and its room is in scope. Audited unless ``audit`` is None (a dry
    run); ``detail`` goes into the audit event.

    On PostgreSQL the caller takes the audit chain's lock (``AuditTrail.open``) before it
    reads the names, and so does a session registering a client (``_register``): a client
    registered meanwhile is then either committed before the read, or waits for the lock
    and then finds this one; never both inserted, never one waiting on the other's row
    while holding the lock the other needs. (SQLite's writers take turns anyway.)
    """
    session.add(
        Workstation(
            id=client_name,
            site_id=site_id,
            room_id=room_id,
            role=role,
            state=WorkstationState.ACTIVE,
            hostname=client_name,
            display_name="",
            token_hash=NO_SECRET,
            created_at=utc_now(),
        )
    )
    if audit is not None:
        audit.append(
            actor,
            "session_client_created",
            workstation_id=client_name,
            room_id=room_id,
            site_id=site_id,
            role=role,
            **detail,
        )
