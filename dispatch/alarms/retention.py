"""Retention: deletes finished alarms, self-tests and audit events older than their settings.

One write path for the hub's daily job and ``silent-alarm-dispatch prune``. Only
resolved alarms go: an open one, or a cancelled one security still follows up,
is kept however old. An alarm goes with its recipients' rows (answers, names)
and its incident report. Audit events referring to it stay until their own
retention; the chain's start moves behind a keyed record (dispatch/store/audit_pruning.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.store.audit import AuditTrail
from dispatch.store.audit_pruning import old_events, prune_events
from dispatch.store.database import Database
from dispatch.store.models import Alarm, AlarmRecipient, ChannelDelivery, IncidentReport
from shared.domain import AlarmKind, AlarmState

PRUNED_ACTION = "retention_pruned"


@dataclass(frozen=True)
class RetentionPolicy:
    """Days each kind of record is kept; 0 keeps it forever."""

    alarms_days: int
    self_tests_days: int
    audit_days: int

    @property
    def keeps_everything(self) -> bool:
        return not (self.alarms_days or self.self_tests_days or self.audit_days)


@dataclass(frozen=True)
class Pruned:
    """What a run deleted (or, dry, would delete): counts only, never who."""

    alarms: int
    self_tests: int
    audit_events: int
    audit_up_to: int | None  # the last audit event removed

    @property
    def anything(self) -> bool:
        return bool(self.alarms or self.self_tests or self.audit_events)


def _cutoff(now: datetime, days: int) -> datetime | None:
    return now - timedelta(days=days) if days else None


def _finished(kinds: tuple[AlarmKind, ...], before: datetime) -> Select[str]:
    """Ids of resolved alarms of these kinds whose all-clear is older than ``before``."""
    return select(Alarm.id).where(
        Alarm.kind.in_([kind.value for kind in kinds]),
        Alarm.state == AlarmState.RESOLVED.value,
        Alarm.resolved_at < before,
    )


def _selections(policy: RetentionPolicy, now: datetime) -> list[Select[str] | None]:
    alarms_before = _cutoff(now, policy.alarms_days)
    tests_before = _cutoff(now, policy.self_tests_days)
    return [
        _finished((AlarmKind.ALARM, AlarmKind.DRILL), alarms_before) if alarms_before else None,
        _finished((AlarmKind.SELF_TEST,), tests_before) if tests_before else None,
    ]


async def _count(session: AsyncSession, ids: Select[str] | None) -> int:
    if ids is None:
        return 0
    return int(await session.scalar(select(func.count()).select_from(ids.subquery())) or 0)


async def _delete(session: AsyncSession, ids: Select[str] | None) -> int:
    if ids is None:
        return 0
    found = list(await session.scalars(ids))
    # Batches keep the IN lists within every backend's bound-parameter limit.
    for start in range(0, len(found), 500):
        batch = found[start : start + 500]
        await session.execute(delete(AlarmRecipient).where(AlarmRecipient.alarm_id.in_(batch)))
        await session.execute(delete(IncidentReport).where(IncidentReport.alarm_id.in_(batch)))
        # The e-mails and SMS sent for it (issue 20): their addresses go with the alarm.
        await session.execute(delete(ChannelDelivery).where(ChannelDelivery.alarm_id.in_(batch)))
        await session.execute(delete(Alarm).where(Alarm.id.in_(batch)))
    return len(found)


async def prune(
    db: Database, policy: RetentionPolicy, *, now: datetime, actor: str, dry_run: bool = False
) -> Pruned:
    """Deletes what is older than the policy at ``now``; ``dry_run`` only counts it.

    The run holds the audit chain's lock (PostgreSQL) or SQLite's write lock
    throughout, so hub instances pruning at once take turns and the later one finds
    nothing left: a run that deletes nothing writes nothing, not even an event.
    """
    alarms, self_tests = _selections(policy, now)
    audit_before = _cutoff(now, policy.audit_days)
    if dry_run:
        async with db.read() as session:
            old = await old_events(session, audit_before) if audit_before else None
            return Pruned(
                await _count(session, alarms),
                await _count(session, self_tests),
                old.events if old else 0,
                old.up_to if old else None,
            )
    async with db.write() as session:
        trail = await AuditTrail.open(session)  # first: the lock, before anything is read
        deleted_alarms = await _delete(session, alarms)
        deleted_tests = await _delete(session, self_tests)
        if deleted_alarms or deleted_tests:
            trail.append(
                actor,
                PRUNED_ACTION,
                at=now,
                alarms=deleted_alarms,
                self_tests=deleted_tests,
                retain_alarms_days=policy.alarms_days,
                retain_self_tests_days=policy.self_tests_days,
            )
        events = (
            await prune_events(session, trail, actor, audit_before, now) if audit_before else None
        )
        return Pruned(
            deleted_alarms,
            deleted_tests,
            events.events if events else 0,
            events.up_to if events else None,
        )
