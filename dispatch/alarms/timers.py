"""What the hub's clock decides about alarms: escalation, nobody reached, and failed self-tests.

Every timer is a column (``next_escalation_at``, ``reach_due_at``, ``stored_at`` of an open
self-test), so it survives a hub restart.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.alarms.audit import audit_alarm
from dispatch.alarms.lifecycle import Actor, Event, decide, states_allowing
from dispatch.alarms.plan import INSERT_RECIPIENTS, next_escalation, read_placement, recipient_rows
from dispatch.alarms.reads import load_records
from dispatch.alarms.record import AlarmRecord, SelfTestResult
from dispatch.routing.holder import RoutingHolder
from dispatch.routing.snapshot import RoutingSnapshot, current_version
from dispatch.store.audit import AuditTrail
from dispatch.store.database import Database
from dispatch.store.models import Alarm, AlarmRecipient, Workstation
from shared.domain import AlarmKind, AlarmLevel, AlarmState, Answer

SELF_TEST_TIMEOUT = timedelta(seconds=60)
"""A self-test whose echo was not confirmed by then counts as failed."""
SELF_TEST_OPERATOR = "self-test"


async def decide_reach(db: Database, now: datetime) -> list[tuple[AlarmRecord, bool]]:
    """Alarms whose nobody-reached time has come: was anyone reached? (record, reached)

    Reached: a recipient's popup is on screen, a console showed the alarm, or it
    is no longer waiting for anyone (acknowledged, arrived, cancelled, resolved).
    Otherwise the raiser is told, once: ``nobody_reached_at`` is set and audited.
    The timer is the column ``reach_due_at``, so it survives a hub restart.
    """
    async with db.read() as session:  # the common case: nothing due, no write lock
        if not await session.scalar(select(Alarm.id).where(Alarm.reach_due_at <= now).limit(1)):
            return []
    decided: list[tuple[AlarmRecord, bool]] = []
    waiting = states_allowing(Event.TELL_NOBODY_REACHED)
    async with db.write() as session:
        # The chain's lock first: hub instances sharing PostgreSQL take turns, and the
        # second reads the first's decision (READ COMMITTED), so each alarm is told once.
        audit = await AuditTrail.open(session)
        due = list(await session.scalars(select(Alarm).where(Alarm.reach_due_at <= now)))
        received = set(
            await session.scalars(
                select(AlarmRecipient.alarm_id).where(
                    AlarmRecipient.alarm_id.in_([a.id for a in due]),
                    AlarmRecipient.received_at.is_not(None),
                )
            )
        )
        for alarm in due:
            alarm.reach_due_at = None
            reached = (
                alarm.state not in waiting
                or alarm.console_seen_at is not None
                or alarm.id in received
                or alarm.nobody_reached_at is not None  # told already (all "Kann nicht")
            )
            if not reached:
                tell_nobody_reached(audit, alarm, now, reason="no_confirmation")
            decided.append(((await load_records(session, [alarm]))[0], reached))
    return decided


async def tell_if_everyone_cannot(session: AsyncSession, alarm: Alarm, now: datetime) -> None:
    """Every recipient answered "Kann nicht" and no operator took it: nobody is coming."""
    waiting = states_allowing(Event.TELL_NOBODY_REACHED)
    if alarm.state not in waiting or alarm.nobody_reached_at is not None:
        return
    answers = list(
        await session.scalars(
            select(AlarmRecipient.answer).where(AlarmRecipient.alarm_id == alarm.id)
        )
    )
    if answers and all(a == Answer.CANNOT.value for a in answers):
        tell_nobody_reached(await AuditTrail.open(session), alarm, now, reason="all_cannot")


def tell_nobody_reached(audit: AuditTrail, alarm: Alarm, now: datetime, reason: str) -> None:
    alarm.nobody_reached_at = now
    alarm.reach_due_at = None  # decided
    audit_alarm(audit, "hub", "alarm_nobody_reached", alarm, now, reason=reason)


async def escalate_due(
    db: Database, routing: RoutingHolder, now: datetime
) -> list[tuple[AlarmRecord, list[str]]]:
    """Widens the circle of every alarm nobody acknowledged in time.

    The timers are the alarms' ``next_escalation_at``, so they survive a
    hub restart. Returns each escalated alarm with the workstations added.
    """
    escalated: list[tuple[AlarmRecord, list[str]]] = []
    due = (Alarm.next_escalation_at <= now, Alarm.state.in_(states_allowing(Event.ESCALATE)))
    async with db.read() as session:  # the common case: nothing due, no write lock
        if not await session.scalar(select(Alarm.id).where(*due).limit(1)):
            return escalated
    async with db.write() as session:
        alarms = await session.scalars(select(Alarm).where(*due))
        audit = await AuditTrail.open(session)
        snapshot = await routing.snapshot(session, await current_version(session))
        for alarm in list(alarms):
            added = await _escalate(session, snapshot, alarm, audit)
            escalated.append(((await load_records(session, [alarm]))[0], added))
    return escalated


async def _escalate(
    session: AsyncSession, routing: RoutingSnapshot, alarm: Alarm, audit: AuditTrail
) -> list[str]:
    placement = routing.placement(alarm.workstation_id) or await read_placement(
        session, alarm.workstation_id
    )
    # The circle widens around the room the alarm was stored with, where the
    # person is, even if an admin has moved the PC since.
    placement = routing.placement_in(placement, alarm.room_id)
    level = AlarmLevel(alarm.level)
    policy = routing.policy(placement.site_id, level)
    step_index = alarm.escalation_step
    if step_index >= len(policy.escalation):  # the policy was shortened meanwhile
        alarm.next_escalation_at = None
        return []
    step = policy.escalation[step_index]
    known = set(
        await session.scalars(
            select(AlarmRecipient.workstation_id).where(AlarmRecipient.alarm_id == alarm.id)
        )
    )
    added = [
        d
        for d in routing.route(level, placement, frozenset({step.scope}))
        if d.workstation_id not in known
    ]
    if added:
        await session.execute(
            INSERT_RECIPIENTS, recipient_rows(alarm.id, added, step=step_index + 1)
        )
    alarm.escalation_step = step_index + 1
    alarm.next_escalation_at = next_escalation(alarm.stored_at, policy, step_index + 1)
    audit.append(
        "hub",
        "alarm_escalated",
        alarm_id=uuid.UUID(alarm.id),
        workstation_id=alarm.workstation_id,
        room_id=alarm.room_id,
        step=step_index + 1,
        scope=step.scope.value,
        added=len(added),
    )
    return [d.workstation_id for d in added]


async def expire_self_tests(db: Database, now: datetime) -> list[SelfTestResult]:
    """Self-tests whose echo was never confirmed have failed: the PC is not protected."""
    overdue = (Alarm.stored_at < now - SELF_TEST_TIMEOUT,)
    async with db.read() as session:  # the common case: none, no write lock
        if not await session.scalar(
            select(Alarm.id)
            .where(
                Alarm.kind == AlarmKind.SELF_TEST.value,
                Alarm.state.in_(states_allowing(Event.CLOSE_SELF_TEST)),
            )
            .where(*overdue)
            .limit(1)
        ):
            return []
    async with db.write() as session:
        audit = await AuditTrail.open(session)
        return await close_self_tests(session, audit, now, *overdue, ok=False)


async def close_self_tests(
    session: AsyncSession,
    audit: AuditTrail,
    now: datetime,
    *where: ColumnElement[bool],
    ok: bool,
) -> list[SelfTestResult]:
    """Closes open self-tests matching ``where`` as passed or failed, on the workstation too."""
    alarms = await session.scalars(
        select(Alarm).where(
            Alarm.kind == AlarmKind.SELF_TEST.value,
            Alarm.state.in_(states_allowing(Event.CLOSE_SELF_TEST)),
            *where,
        )
    )
    results: list[SelfTestResult] = []
    for alarm in alarms:
        closed = decide(
            AlarmState(alarm.state), Event.CLOSE_SELF_TEST, Actor.HUB, AlarmKind(alarm.kind)
        )
        alarm.state = closed.to.value
        alarm.resolved_by, alarm.resolved_at = SELF_TEST_OPERATOR, now
        await session.execute(
            update(Workstation)
            .where(Workstation.id == alarm.workstation_id)
            .values(self_test_at=now, self_test_ok=ok)
        )
        action = "self_test_passed" if ok else "self_test_failed"
        audit_alarm(audit, "hub", action, alarm, now)
        results.append(SelfTestResult(alarm.workstation_id, now, ok))
    return results
