"""The append-only, hash-chained audit trail: every state change, and a verifier for it.

Each event stores the SHA-256 of its content together with the previous
event's hash. Changing a row breaks its own hash; deleting one breaks the link
of the next. Cutting rows off the end is only visible against a head hash
recorded earlier, which ``verify`` prints for that purpose.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.database import Database
from dispatch.models import AuditEvent
from shared.protocol import utc_now

GENESIS = "0" * 64


class HashedFields(Protocol):
    """What the hash covers; an ORM row and a plain SQL row both have these."""

    at: datetime
    actor: str
    action: str
    alarm_id: str | None
    workstation_id: str | None
    room_id: int | None
    detail: str


def event_hash(previous: str, event: HashedFields) -> str:
    content = {
        "previous": previous,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "alarm_id": event.alarm_id,
        "workstation_id": event.workstation_id,
        "room_id": event.room_id,
        "detail": event.detail,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class AuditTrail:
    """Appends to the chain inside one write transaction."""

    def __init__(self, session: AsyncSession, head: str) -> None:
        self._session = session
        self._head = head

    @classmethod
    async def open(cls, session: AsyncSession) -> AuditTrail:
        if session.get_bind().dialect.name == "postgresql":
            # Hub instances sharing PostgreSQL take turns, so the chain never forks.
            await session.execute(text("SELECT pg_advisory_xact_lock(727001)"))
        head = await session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
        return cls(session, head or GENESIS)

    def append(
        self,
        actor: str,
        action: str,
        *,
        alarm_id: uuid.UUID | None = None,
        workstation_id: str | None = None,
        room_id: int | None = None,
        at: datetime | None = None,
        **detail: Any,
    ) -> None:
        event = AuditEvent(
            at=at or utc_now(),
            actor=actor,
            action=action,
            alarm_id=str(alarm_id) if alarm_id else None,
            workstation_id=workstation_id,
            room_id=room_id,
            detail=json.dumps(detail, sort_keys=True, default=str),
            previous_hash=self._head,
        )
        event.hash = event_hash(self._head, event)
        self._head = event.hash
        self._session.add(event)


@dataclass(frozen=True)
class Verdict:
    events: int
    head: str
    broken_at: int | None  # id of the first event whose hash or link does not match
    problem: str | None


async def verify(db: Database) -> Verdict:
    previous, count = GENESIS, 0
    async for event in _events(db):
        if event.previous_hash != previous:
            return Verdict(count, previous, event.id, "link to the previous event broken")
        if event_hash(previous, event) != event.hash:
            return Verdict(count, previous, event.id, "content changed")
        previous, count = event.hash, count + 1
    return Verdict(count, previous, None, None)


async def _events(db: Database) -> AsyncIterator[AuditEvent]:
    async with db.read() as session:
        result = await session.stream_scalars(select(AuditEvent).order_by(AuditEvent.id))
        async for event in result:
            yield event
