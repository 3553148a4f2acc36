"""The append-only, hash-chained audit trail: every state change, and a verifier for it.

Each event stores a keyed hash (HMAC-SHA-256, key in a file outside the
database: dispatch/store/audit_key.py) of its content together with the previous
event's hash. Changing a row breaks its own hash; deleting one breaks the link
of the next; re-hashing the rest of the chain or appending an event needs the
key. Cutting rows off the end is visible against the anchors, the head the hub
records outside the database every few seconds (dispatch/store/audit_anchors.py).
Events written before the hub had a key carry a plain SHA-256; the first keyed
event's hash covers their head, and no plain event may follow a keyed one.
Retention removes the oldest events behind a keyed ``audit_pruned`` event, which
names the last removed event and its hash: the chain may then start there.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncGenerator, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Insert, ScalarSelect, event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from dispatch.store.audit_key import AUDIT_KEY
from dispatch.store.database import Database, core_table
from dispatch.store.models import AuditEvent
from shared.protocol import utc_now

GENESIS = "0" * 64
PRUNED = "audit_pruned"
"""Action of the keyed event that lets the chain start after removed events (retention)."""
_TRAIL = "dispatch.store.audit.trail"
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


def event_hash(previous: str, event: HashedFields, key: bytes | None = None) -> str:
    """The event's hash: keyed with ``key``, a plain SHA-256 (events from before keys) without."""
    return _hash(
        key,
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
    key: bytes | None,
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
    if key is None:
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


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
        key = session.info.get(AUDIT_KEY)
        self._key = key if isinstance(key, bytes) else None
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
            self._key,
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

    async def write_now(self, session: AsyncSession) -> None:
        """Inserts the events appended so far now, not at the commit (still in this transaction)."""
        if self._rows:
            rows, self._rows = self._rows, []
            await (await session.connection()).execute(_INSERT_EVENTS, rows)

    def take_pending(self) -> tuple[Insert, list[dict[str, Any]]]:
        """The events appended so far and their INSERT, for a caller that writes them itself
        in this transaction (``sqlite_trips.write_and_commit``); the commit then writes none."""
        rows, self._rows = self._rows, []
        return _INSERT_EVENTS, rows

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
    keyed_from: int | None = None  # id of the first keyed event
    anchors: int = 0  # anchors checked against the chain
    pruned_up_to: int | None = None  # the chain starts after this removed event
    anchors_pruned: int = 0  # anchors of removed events, skipped


@dataclass
class _Start:
    """Where the stored chain begins: at the genesis, or after removed events, which a keyed
    ``audit_pruned`` event further on must vouch for (its hash is the first event's link)."""

    first_id: int | None = None
    link: str = GENESIS
    pruned_up_to: int | None = None

    @property
    def vouched(self) -> bool:
        return self.link == GENESIS or self.pruned_up_to is not None

    def consider(self, event_row: AuditEvent, keyed: bool) -> None:
        if self.vouched or not keyed or event_row.action != PRUNED:
            return
        try:
            record = json.loads(event_row.detail)
            up_to, link = int(record["up_to"]), str(record["hash"])
        except (ValueError, KeyError, TypeError):
            return
        if link == self.link and self.first_id is not None and up_to < self.first_id:
            self.pruned_up_to = up_to


async def verify(
    db: Database, key: bytes | None = None, anchors: Collection[tuple[int, str]] = ()
) -> Verdict:
    """Walks the chain from its start; with ``anchors`` (event id, hash) recorded outside
    the database, a cut-off end or a chain re-hashed from scratch is found too.

    A chain whose first event does not link to the genesis is accepted only when a
    keyed ``audit_pruned`` event in it names that link: rows deleted without one, or
    a pruned record made without the key, break it. Anchors of pruned events are skipped.
    """
    previous, count, keyed_from = GENESIS, 0, None
    start = _Start()
    anchored = {event_id for event_id, _ in anchors}
    seen: dict[int, str] = {}
    async with contextlib.aclosing(_events(db)) as events:  # closed on an early return too
        async for event_row in events:
            if start.first_id is None:
                start.first_id, start.link = event_row.id, event_row.previous_hash
                previous = event_row.previous_hash
            if event_row.previous_hash != previous:
                return Verdict(count, previous, event_row.id, "link to the previous event broken")
            keyed = key is not None and event_hash(previous, event_row, key) == event_row.hash
            if keyed:
                keyed_from = event_row.id if keyed_from is None else keyed_from
            elif keyed_from is not None:
                problem = "content changed, or hashed without the audit key"
                return Verdict(count, previous, event_row.id, problem, keyed_from)
            elif event_hash(previous, event_row) != event_row.hash:
                return Verdict(count, previous, event_row.id, "content changed", keyed_from)
            start.consider(event_row, keyed)
            if event_row.id in anchored:
                seen[event_row.id] = event_row.hash
            previous, count = event_row.hash, count + 1
    if not start.vouched:
        problem = "events before it were deleted without a keyed audit_pruned record"
        return Verdict(count, previous, start.first_id, problem, keyed_from)
    cut = start.pruned_up_to
    skipped = [a for a in anchors if cut is not None and a[0] <= cut]
    for event_id, anchored_hash in sorted(set(anchors) - set(skipped)):
        checked = len(anchors) - len(skipped)
        if event_id not in seen:
            problem = f"anchored event {event_id} is missing (deleted or cut off)"
            return Verdict(count, previous, event_id, problem, keyed_from, checked, cut)
        if seen[event_id] != anchored_hash:
            problem = f"event {event_id} differs from its anchor (chain re-hashed)"
            return Verdict(count, previous, event_id, problem, keyed_from, checked, cut)
    checked = len(anchors) - len(skipped)
    return Verdict(count, previous, None, None, keyed_from, checked, cut, len(skipped))


async def _events(db: Database) -> AsyncGenerator[AuditEvent]:
    async with db.read() as session:
        result = await session.stream_scalars(select(AuditEvent).order_by(AuditEvent.id))
        async for event_row in result:
            yield event_row
