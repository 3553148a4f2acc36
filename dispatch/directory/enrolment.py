"""Enrolment: one-time codes an admin issues, and an agent trading one for its device secret."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.directory.credentials import hash_token, new_device_token
from dispatch.directory.refusals import EnrolmentRefused, Invalid
from dispatch.directory.site_scope import SiteScope, in_scope
from dispatch.store.audit import AuditTrail
from dispatch.store.database import Database
from dispatch.store.models import EnrolmentCode, Room, Site, Workstation
from shared.domain import WorkstationRole, WorkstationState
from shared.protocol import utc_now

log = structlog.get_logger(__name__)

MAX_CODE_HOURS = 168
MAX_CODES = 1000
_CODE_BYTES = 15  # 120 bits, shown as 24 base32 characters in groups of four


@dataclass(frozen=True, slots=True)
class IssuedCode:
    id: int
    code: str  # shown once, never stored
    site_id: int
    room_id: int | None
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Enrolled:
    workstation_id: str
    secret: str  # shown once to the agent, only its hash is stored
    state: WorkstationState
    site_id: int
    room_id: int | None


async def issue_codes(
    db: Database,
    actor: str,
    site_id: int,
    room_id: int | None,
    hours: float,
    count: int = 1,
    *,
    scope: SiteScope,
) -> list[IssuedCode]:
    """One-time codes; the plain codes are returned once and only their hashes kept."""
    if not 0 < hours <= MAX_CODE_HOURS:
        raise Invalid(f"hours must be more than 0 and at most {MAX_CODE_HOURS}")
    if not 1 <= count <= MAX_CODES:
        raise Invalid(f"count must be between 1 and {MAX_CODES}")
    now = utc_now()
    expires = now + timedelta(hours=hours)
    issued: list[IssuedCode] = []
    async with db.write() as session:
        await in_scope(session, Site, site_id, "site", scope)
        if room_id is not None:
            room = await session.get(Room, room_id)
            if room is None or room.site_id != site_id:
                raise Invalid(f"no room {room_id} at site {site_id}")
        audit = await AuditTrail.open(session)
        for _ in range(count):
            code = new_enrolment_code()
            row = EnrolmentCode(
                code_hash=hash_code(code),
                site_id=site_id,
                room_id=room_id,
                created_by=actor,
                created_at=now,
                expires_at=expires,
            )
            session.add(row)
            await session.flush()
            audit.append(
                actor,
                "enrolment_code_created",
                room_id=room_id,
                code_id=row.id,
                site_id=site_id,
                expires_at=expires.isoformat(),
            )
            issued.append(IssuedCode(row.id, code, site_id, room_id, expires))
    return issued


async def withdraw_code(
    db: Database, actor: str, code_id: int, *, scope: SiteScope
) -> EnrolmentCode:
    """An unused code expires now; the row stays for the record. A used one is left as it is."""
    async with db.write() as session:
        row = await in_scope(session, EnrolmentCode, code_id, "enrolment code", scope)
        now = utc_now()
        if row.used_at is None and row.expires_at > now:
            row.expires_at = now
            (await AuditTrail.open(session)).append(
                actor, "enrolment_code_withdrawn", code_id=row.id
            )
        return row


async def enrol(
    db: Database, code: str, hostname: str, agent_version: str, client: str | None = None
) -> Enrolled:
    """Trades a valid one-time code for a new workstation and its device secret.

    Everything happens in one write transaction; the code is marked used with a
    conditional UPDATE, so two hub instances racing for one code cannot both win.
    """
    now = utc_now()
    secret = new_device_token()
    async with db.write() as session:
        row = await session.scalar(
            select(EnrolmentCode).where(EnrolmentCode.code_hash == hash_code(code))
        )
        if row is None:
            raise EnrolmentRefused("unknown enrolment code")
        if row.used_at is not None:
            raise EnrolmentRefused("enrolment code already used")
        if row.expires_at <= now:
            raise EnrolmentRefused("enrolment code expired")
        workstation_id = await _free_workstation_id(session, hostname)
        claimed = await session.execute(
            update(EnrolmentCode)
            .where(EnrolmentCode.id == row.id, EnrolmentCode.used_at.is_(None))
            .values(used_at=now, workstation_id=workstation_id)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            raise EnrolmentRefused("enrolment code already used")
        state = WorkstationState.ACTIVE if row.room_id is not None else WorkstationState.PENDING
        session.add(
            Workstation(
                id=workstation_id,
                site_id=row.site_id,
                room_id=row.room_id,
                role=WorkstationRole.STAFF,
                state=state,
                hostname=hostname,
                display_name="",
                token_hash=hash_token(secret),
                agent_version=agent_version,
                created_at=now,
            )
        )
        (await AuditTrail.open(session)).append(
            f"enrolment:{row.id}",
            "workstation_enrolled",
            workstation_id=workstation_id,
            room_id=row.room_id,
            hostname=hostname,
            agent_version=agent_version,
            state=state,
            code_id=row.id,
            client=client,
        )
    log.info("workstation_enrolled", workstation=workstation_id, state=state, client=client)
    return Enrolled(workstation_id, secret, state, row.site_id, row.room_id)


_CODE_ALPHABET_JUNK = re.compile(r"[\s-]+")


def new_enrolment_code() -> str:
    """120 random bits as ``XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`` (base32: no 0/1/8/9 confusion)."""
    raw = base64.b32encode(secrets.token_bytes(_CODE_BYTES)).decode("ascii")
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def normalise_code(code: str) -> str:
    """Case, spaces and dashes do not matter when a code is typed."""
    return _CODE_ALPHABET_JUNK.sub("", code).upper()


def hash_code(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode("utf-8")).hexdigest()


_ID_JUNK = re.compile(r"[^a-z0-9._-]+")


def workstation_id_for(hostname: str) -> str:
    """A stable id from a hostname: lower case, the short name, safe characters only."""
    short = hostname.strip().split(".")[0].lower()
    return _ID_JUNK.sub("-", short).strip("-")[:100] or "pc"


async def _free_workstation_id(session: AsyncSession, hostname: str) -> str:
    base = workstation_id_for(hostname)
    taken = set(
        await session.scalars(
            select(Workstation.id).where(
                (Workstation.id == base) | Workstation.id.like(f"{base}-%")
            )
        )
    )
    if base not in taken:
        return base
    suffix = 2
    while f"{base}-{suffix}" in taken:
        suffix += 1
    return f"{base}-{suffix}"
