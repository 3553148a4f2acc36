"""Turns stored alarm records into the protocol messages each audience may see."""

from __future__ import annotations

from dispatch.alarms import AlarmRecord, RecipientState
from shared.protocol import AlarmNotify, AlarmUpdate, ConsoleAlarm


def notify(record: AlarmRecord, recipient: RecipientState) -> AlarmNotify:
    """The popup content for one recipient; no location unless routing allowed it."""
    return AlarmNotify(
        alarm_id=record.id,
        level=record.level,
        instruction=recipient.instruction,
        room=record.room if recipient.with_location else None,
        raiser=record.raiser_name if recipient.with_location else None,
        raised_at=record.raised_at,
        responders=record.responders,
    )


def update(record: AlarmRecord) -> AlarmUpdate:
    return AlarmUpdate(alarm_id=record.id, state=record.state, responders=record.responders)


def console_alarm(record: AlarmRecord) -> ConsoleAlarm:
    return ConsoleAlarm(
        alarm_id=record.id,
        level=record.level,
        state=record.state,
        room=record.room,
        workstation_id=record.workstation_id,
        raiser=record.raiser_name,
        trigger=record.trigger,
        raised_at=record.raised_at,
        stored_at=record.stored_at,
        recipients=len(record.recipients),
        delivered=sum(1 for r in record.recipients if r.received),
        responders=record.responders,
        escalation_step=record.escalation_step,
        acknowledged_by=record.acknowledged_by,
        resolved_by=record.resolved_by,
    )
