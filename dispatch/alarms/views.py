"""Turns stored alarm records into the protocol messages each audience may see."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_, true
from sqlalchemy.orm import InstrumentedAttribute

from dispatch.alarms.record import AlarmRecord, RecipientState
from dispatch.directory.identities import OperatorView
from shared.domain import AlarmLevel, AlarmState, Answer, OperatorRole, RaiserFeedback
from shared.protocol import AlarmNotify, AlarmUpdate, ConsoleAlarm, RaiserStatus

IntColumn = ColumnElement[int] | InstrumentedAttribute[int]


def notify(record: AlarmRecord, recipient: RecipientState) -> AlarmNotify:
    """The popup content for one recipient; no location unless routing allowed it."""
    return AlarmNotify(
        alarm_id=record.id,
        level=record.level,
        kind=record.kind,
        instruction=recipient.instruction,
        room=record.room if recipient.with_location else None,
        raiser=record.raiser_name if recipient.with_location else None,
        raised_at=record.raised_at,
        responders=record.responders,
    )


def update(record: AlarmRecord, *, withdrawn: bool = False) -> AlarmUpdate:
    """What recipients see: every answer so far; ``withdrawn``: what staff see of an alarm
    withdrawn under duress, the same state as after a normal withdrawal."""
    return AlarmUpdate(
        alarm_id=record.id,
        state=AlarmState.CANCELLED if withdrawn else record.state,
        responders=record.responders,
        coming=record.coming,
    )


def _raiser_state(record: AlarmRecord) -> AlarmState:
    """Withdrawn under duress is "withdrawn" on the raiser's screen, whatever follows."""
    return AlarmState.CANCELLED if record.under_duress else record.state


def raiser_update(record: AlarmRecord) -> AlarmUpdate:
    """What the raiser sees, as discreet as the policy asks: no names unless it says so."""
    feedback = record.raiser_feedback
    coming = record.coming if feedback is not RaiserFeedback.NONE else 0
    names = [r for r in record.responders if r.answer in (Answer.COMING, Answer.ARRIVED)]
    return AlarmUpdate(
        alarm_id=record.id,
        state=_raiser_state(record),
        responders=names if feedback is RaiserFeedback.NAMES else [],
        coming=coming,
    )


def raiser_status(record: AlarmRecord) -> RaiserStatus:
    """The raiser's own view (issue 13): who is coming as discreetly as ``raiser_update``,
    and whatever the policy whether anyone was reached and whether security took it."""
    update = raiser_update(record)
    return RaiserStatus(
        alarm_id=record.id,
        state=_raiser_state(record),
        kind=record.kind,
        coming=update.coming,
        responders=update.responders,
        delivered=record.delivered,
        recipients=len(record.recipients),
        seen_by_console=record.console_seen_at is not None,
        acknowledged_by_security=record.acknowledged_by is not None,
        nobody_reached=record.nobody_reached_at is not None,
    )


def console_may_see(operator: OperatorView, record: AlarmRecord) -> bool:
    """Operators see the alarms of the sites they cover (none named: every site).

    Emergency managers are there for threats and worse: level 2 and 3, and a
    level-1 alarm once nobody answered and it had to be escalated.
    """
    return may_see_alarm(operator, record.site_id, record.level, record.escalation_step)


def may_see_alarm(
    operator: OperatorView, site_id: int | None, level: AlarmLevel, escalation_step: int
) -> bool:
    """console_may_see for what a REST route reads from the store (no AlarmRecord)."""
    if operator.sites and site_id not in operator.sites:
        return False
    if operator.role == OperatorRole.EMERGENCY_MANAGER:
        return level >= AlarmLevel.THREAT or escalation_step > 0
    return True


def may_see_where(
    operator: OperatorView,
    site_id: ColumnElement[int],
    level: IntColumn,
    escalation_step: IntColumn,
) -> ColumnElement[bool]:
    """may_see_alarm as an SQL condition on these columns: for a read that stops at a
    limit, which must not spend it on alarms the operator may not see."""
    rules: list[ColumnElement[bool]] = [true()]
    if operator.sites:
        rules.append(site_id.in_(sorted(operator.sites)))
    if operator.role == OperatorRole.EMERGENCY_MANAGER:
        rules.append(or_(level >= AlarmLevel.THREAT.value, escalation_step > 0))
    return and_(*rules)


def console_alarm(record: AlarmRecord) -> ConsoleAlarm:
    return ConsoleAlarm(
        alarm_id=record.id,
        level=record.level,
        kind=record.kind,
        state=record.state,
        room=record.room,
        site_id=record.site_id,
        floor_id=record.floor_id,
        room_id=record.room_id,
        workstation_id=record.workstation_id,
        raiser=record.raiser_name,
        trigger=record.trigger,
        raised_at=record.raised_at,
        stored_at=record.stored_at,
        recipients=len(record.recipients),
        delivered=record.delivered,
        responders=record.responders,
        escalation_step=record.escalation_step,
        acknowledged_by=record.acknowledged_by,
        arrived_by=record.arrived_by,
        resolved_by=record.resolved_by,
        cancelled_at=record.cancelled_at,
        cancelled_under_duress_at=record.cancelled_under_duress_at,
        report=record.report,
    )
