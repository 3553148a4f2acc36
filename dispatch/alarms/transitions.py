"""What people do to an alarm: operators take, attend and close it, its raiser may cancel it."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from dispatch.alarms.audit import audit_alarm
from dispatch.alarms.lifecycle import Actor, AlarmError, Event, decide
from dispatch.alarms.reads import load_record
from dispatch.alarms.record import AlarmRecord
from dispatch.alarms.reports import write_report
from dispatch.directory.identities import WorkstationView
from dispatch.store.audit import AuditTrail
from dispatch.store.database import Database
from dispatch.store.models import Alarm
from shared.domain import AlarmKind, AlarmState
from shared.protocol import IncidentReport as Report
from shared.protocol import utc_now

_OPERATOR_ACTIONS = {
    Event.ACKNOWLEDGE: "alarm_acknowledged",
    Event.ARRIVE: "alarm_arrived",
    Event.RESOLVE: "alarm_resolved",
}


async def operator_transition(
    db: Database,
    alarm_id: uuid.UUID,
    operator: str,
    event: Event,
    report: Report | None = None,
    via: str | None = None,
) -> AlarmRecord:
    """An operator acknowledges, marks arrival or resolves; a repeat changes nothing.

    Once help has arrived, acknowledging only records who. A resolve's incident report
    is written in the same transaction as the state: never an all-clear whose report
    got lost. For a cancelled alarm the resolve ends security's follow-up.
    """
    async with db.write() as session:
        alarm = await session.get(Alarm, str(alarm_id))
        if alarm is None:
            raise AlarmError("unknown_alarm", "no such alarm")
        step = decide(AlarmState(alarm.state), event, Actor.OPERATOR, AlarmKind(alarm.kind))
        if step.repeated:
            return await load_record(session, alarm_id)  # a double click changes nothing
        now = utc_now()
        alarm.next_escalation_at = None  # an operator has taken it: no wider circle
        if event is Event.ACKNOWLEDGE:
            alarm.acknowledged_by, alarm.acknowledged_at = operator, now
        elif event is Event.ARRIVE:
            alarm.arrived_by, alarm.arrived_at = operator, now
        else:
            alarm.resolved_by, alarm.resolved_at = operator, now
        alarm.state = step.to.value
        audit = await AuditTrail.open(session)
        actor = f"operator:{operator}"
        # "via": another path than the console (a phone's push notification, issue 20).
        detail = {"via": via} if via else {}
        audit_alarm(audit, actor, _OPERATOR_ACTIONS[event], alarm, now, **detail)
        if report is not None:
            await write_report(
                session, audit, alarm, report, actor=actor, written_by=operator, now=now
            )
        return await load_record(session, alarm_id)


async def cancel(db: Database, alarm_id: uuid.UUID, raiser: WorkstationView) -> AlarmRecord:
    """The raiser withdraws the alarm within the policy's window (a wrong key, say).

    Security keeps seeing it as "cancelled — follow up": someone under
    pressure may have been made to cancel.
    """
    async with db.write() as session:
        alarm = await session.get(Alarm, str(alarm_id))
        if alarm is None or alarm.workstation_id != raiser.id:
            raise AlarmError("unknown_alarm", "no such alarm raised by this workstation")
        if alarm.cancelled_under_duress_at is not None:
            # Withdrawn under duress already: the raiser was told so; it stays open.
            return await load_record(session, alarm_id)
        now = utc_now()
        in_time = alarm.cancel_until is not None and now <= alarm.cancel_until
        event = Event.CANCEL if in_time else Event.CANCEL_LATE
        step = decide(AlarmState(alarm.state), event, Actor.RAISER, AlarmKind(alarm.kind))
        alarm.state = step.to.value
        alarm.cancelled_at = now
        alarm.next_escalation_at = None
        audit_alarm(
            await AuditTrail.open(session),
            f"workstation:{raiser.id}",
            "alarm_cancelled",
            alarm,
            now,
        )
        return await load_record(session, alarm_id)


async def console_seen(db: Database, alarm_id: uuid.UUID, operator: str) -> AlarmRecord | None:
    """A console has rendered the alarm: it counts as reached. None when nothing changed.

    Only the first console is recorded and audited; later ones change nothing.
    """
    async with db.read() as session:  # the common case: seen already, no write lock
        seen = await session.scalar(select(Alarm.console_seen_at).where(Alarm.id == str(alarm_id)))
        if seen is not None:
            return None
    async with db.write() as session:
        audit = await AuditTrail.open(session)  # first: two consoles, one audit event
        alarm = await session.get(Alarm, str(alarm_id))
        if alarm is None:
            raise AlarmError("unknown_alarm", "no such alarm")
        if alarm.console_seen_at is not None:
            return None
        now = utc_now()
        alarm.console_seen_at = now
        audit_alarm(audit, f"operator:{operator}", "alarm_seen", alarm, now)
        return await load_record(session, alarm_id)
