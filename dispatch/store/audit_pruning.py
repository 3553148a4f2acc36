"""Removes the oldest audit events behind a keyed record the verifier starts the chain from.

The record (``audit_pruned``, appended at the head like every event and keyed
with the audit key) names the last removed event and its hash, which is the
link of the first event kept. Without the key nobody can write one, so rows
deleted any other way still break ``audit verify``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.store.audit import PRUNED, AuditTrail
from dispatch.store.models import AuditEvent


@dataclass(frozen=True)
class PrunedEvents:
    events: int
    up_to: int | None  # id of the last event removed
    hash: str | None  # its hash: the first kept event's link


NOTHING = PrunedEvents(0, None, None)


async def old_events(session: AsyncSession, before: datetime) -> PrunedEvents:
    """The unbroken run of events from the chain's start that are all older than ``before``.

    Only a prefix can go: an old event after a newer one (a clock set back) stays.
    """
    first_kept = select(func.min(AuditEvent.id)).where(AuditEvent.at >= before).scalar_subquery()
    in_prefix = (AuditEvent.at < before) & ((AuditEvent.id < first_kept) | first_kept.is_(None))
    count, up_to = (
        await session.execute(select(func.count(), func.max(AuditEvent.id)).where(in_prefix))
    ).one()
    if not count:
        return NOTHING
    link = await session.scalar(select(AuditEvent.hash).where(AuditEvent.id == up_to))
    return PrunedEvents(count, up_to, link)


async def prune_events(
    session: AsyncSession, trail: AuditTrail, actor: str, before: datetime, now: datetime
) -> PrunedEvents:
    """Appends the ``audit_pruned`` record, then deletes the events it names.

    Call with the trail open (``AuditTrail.open``: on PostgreSQL the chain's lock), so
    no event is appended between reading the run and deleting it.
    """
    found = await old_events(session, before)
    if found.up_to is None:
        return found
    trail.append(actor, PRUNED, at=now, up_to=found.up_to, hash=found.hash, events=found.events)
    # Inserted before the delete: SQLite numbers a row after the highest one left, and an
    # emptied table would hand out ids again that anchors and older records already name.
    await trail.write_now(session)
    await session.execute(delete(AuditEvent).where(AuditEvent.id <= found.up_to))
    return found
