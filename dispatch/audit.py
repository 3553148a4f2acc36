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

from sqlalchemy import ScalarSelect, event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from dispatch.database import Database, core_table
from dispatch.models import AuditEvent
from shared.protocol import utc_now

GENESIS = "0" * 64
_TRAIL = "dispatch.audit.trail"
"""Key of the transaction's open trail in ``Session.info``."""


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
    return _hash(
        previous,
        event.at,
        event.actor,
        event.action,
        event.alarm_id,
        event.workstation_id,
        event.room_id,
        event.detail,
    )


def _hash(
    previous: str,
    at: datetime,
    actor: str,
    action: str,
    alarm_id: str | None,
    workstation_id: str | None,
    room_id: int | None,
    detail: str,
) -> str:
    content = {
        "previous": previous,
        "at": at.isoformat(),
        "actor": actor,
        "action": action,
        "alarm_id": alarm_id,
        "workstation_id": workstation_id,
        "room_id": room_id,
        "detail": detail,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# Core statements built once, on the table: building a statement, or the ORM's
# handling of one, costs more Python than the database takes to run it.
_EVENTS = core_table(AuditEvent)
HEAD_HASH: ScalarSelect[str] = (
    select(_EVENTS.c.hash).order_by(_EVENTS.c.id.desc()).limit(1).scalar_subquery()
)
"""The newest event's hash, as a column a caller's own SELECT can carry (see ``resume``)."""
_READ_HEAD = select(HEAD_HASH)
_INSERT_EVENTS = insert(_EVENTS)


class AuditTrail:
    """Appends to the chain inside one write transaction.

    Events are kept in memory and written with one multi-row INSERT just before
    the transaction commits (``_write_before_commit``): however many events a
    transaction appends, the chain costs one statement, and a rolled-back
    transaction leaves none behind. A transaction has one trail: opening it
    again returns the same one, so a second open never reads a head that
    misses the events still waiting.
    """

    def __init__(self, session: Session, head: str) -> None:
        self._session = session
        self._head = head
        self._rows: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, session: AsyncSession) -> AuditTrail:
        """The transaction's trail: locked (PostgreSQL) and its head read, unless open already."""
        existing = session.sync_session.info.get(_TRAIL)
        if isinstance(existing, AuditTrail):
            return existing
        await cls.lock(session)
        return cls.resume(session, await session.scalar(_READ_HEAD))

    @staticmethod
    async def lock(session: AsyncSession) -> None:
        """Take the chain before reading its head: call first in the write transaction."""
        if session.get_bind().dialect.name == "postgresql":
            # Hub instances sharing PostgreSQL take turns, so the chain never forks.
            await session.execute(text("SELECT pg_advisory_xact_lock(727001)"))

    @classmethod
    def resume(cls, session: AsyncSession, head: str | None) -> AuditTrail:
        """The trail from a head the caller read itself, after ``lock``, in this transaction.

        The alarm writer reads the head in the same statement as its other reads.
        If the transaction has a trail already, that one wins: its head includes
        events not written yet.
        """
        info = session.sync_session.info
        existing = info.get(_TRAIL)
        if isinstance(existing, AuditTrail):
            return existing
        trail = cls(session.sync_session, head or GENESIS)
        info[_TRAIL] = trail
        return trail

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
        row: dict[str, Any] = {
            "at": at or utc_now(),
            "actor": actor,
            "action": action,
            "alarm_id": str(alarm_id) if alarm_id else None,
            "workstation_id": workstation_id,
            "room_id": room_id,
            "detail": json.dumps(detail, sort_keys=True, default=str),
            "previous_hash": self._head,
        }
        row["hash"] = self._head = _hash(
            self._head,
            row["at"],
            actor,
            action,
            row["alarm_id"],
            workstation_id,
            room_id,
            row["detail"],
        )
        self._rows.append(row)
        # Appending after a commit starts the next transaction's events: register again.
        self._session.info[_TRAIL] = self

    def _write(self) -> None:
        if self._rows:
            rows, self._rows = self._rows, []
            # Core, not the ORM: one executemany in id order, no id read back per row.
            self._session.connection().execute(_INSERT_EVENTS, rows)

    def _discard(self) -> None:
        self._rows = []


@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    # Runs inside AsyncSession.commit's greenlet, so the statement may await the driver.
    trail = session.info.pop(_TRAIL, None)
    if isinstance(trail, AuditTrail):
        trail._write()


@event.listens_for(Session, "after_soft_rollback")
def _discard_after_rollback(session: Session, _previous: SessionTransaction) -> None:
    trail = session.info.pop(_TRAIL, None)
    if isinstance(trail, AuditTrail):
        trail._discard()


@dataclass(frozen=True)
class Verdict:
    events: int
    head: str
    broken_at: int | None  # id of the first event whose hash or link does not match
    problem: str | None


async def verify(db: Database) -> Verdict:
    previous, count = GENESIS, 0
    async for event_row in _events(db):
        if event_row.previous_hash != previous:
            return Verdict(count, previous, event_row.id, "link to the previous event broken")
        if event_hash(previous, event_row) != event_row.hash:
            return Verdict(count, previous, event_row.id, "content changed")
        previous, count = event_row.hash, count + 1
    return Verdict(count, previous, None, None)


async def _events(db: Database) -> AsyncIterator[AuditEvent]:
    async with db.read() as session:
        result = await session.stream_scalars(select(AuditEvent).order_by(AuditEvent.id))
        async for event_row in result:
            yield event_row
