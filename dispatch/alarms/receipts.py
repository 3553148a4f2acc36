"""What recipients tell about an alarm: that its popup is on screen, and their answer."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select, update

from dispatch.alarms.lifecycle import Actor, AlarmError, Event, decide
from dispatch.alarms.reads import load_record
from dispatch.alarms.record import AlarmRecord, ReceiptOutcome
from dispatch.alarms.timers import close_self_tests, tell_if_everyone_cannot
from dispatch.store.audit import AuditTrail
from dispatch.store.database import Database
from dispatch.store.models import Alarm, AlarmRecipient
from shared.domain import AlarmKind, AlarmState, Answer, Instruction
from shared.protocol import utc_now

_ON_THE_WAY = frozenset({Answer.COMING.value, Answer.ARRIVED.value})
"""Recipient answers after which "Bin da" (arrived) is accepted."""


async def record_receipts(
    db: Database, receipts: Collection[tuple[uuid.UUID, str]]
) -> ReceiptOutcome:
    """Marks many popups as on screen in one transaction; says which alarms changed.

    Receipts are batched by the hub: one commit for all that arrived within a
    few milliseconds instead of one each, so receipts never queue ahead of
    new alarms. A receipt from a non-recipient or a repeated one changes
    nothing. One audit event per alarm names the workstations it reached. A
    self-test whose echo is confirmed has passed: it is closed at once.
    """
    if not receipts:
        return ReceiptOutcome(set(), {})
    now = utc_now()
    wanted = {(str(alarm_id), ws) for alarm_id, ws in receipts}
    async with db.write() as session:
        # Only the rows asked about: an alarm to 10,000 PCs must not make every
        # batch of receipts read all its unconfirmed recipients again.
        rows = await session.execute(
            select(AlarmRecipient.alarm_id, AlarmRecipient.workstation_id).where(
                AlarmRecipient.alarm_id.in_({alarm_id for alarm_id, _ in wanted}),
                AlarmRecipient.workstation_id.in_({ws for _, ws in wanted}),
                AlarmRecipient.received_at.is_(None),
            )
        )
        fresh = [(alarm_id, ws) for alarm_id, ws in rows if (alarm_id, ws) in wanted]
        if not fresh:
            return ReceiptOutcome(set(), {})
        await session.execute(  # ORM bulk UPDATE by primary key: one executemany
            update(AlarmRecipient),
            [{"alarm_id": a, "workstation_id": w, "received_at": now} for a, w in fresh],
        )
        reached: dict[str, list[str]] = {}
        for alarm_id, ws in fresh:
            reached.setdefault(alarm_id, []).append(ws)
        audit = await AuditTrail.open(session)
        for alarm_id, workstations in reached.items():
            audit.append(
                "hub",
                "alarm_delivered",
                alarm_id=uuid.UUID(alarm_id),
                at=now,
                workstations=sorted(workstations),
            )
        passed = await close_self_tests(session, audit, now, Alarm.id.in_(reached), ok=True)
    return ReceiptOutcome(
        {uuid.UUID(alarm_id) for alarm_id in reached},
        {r.workstation_id: r.at for r in passed},
    )


async def record_answer(
    db: Database, alarm_id: uuid.UUID, workstation_id: str, answer: Answer, name: str
) -> AlarmRecord:
    async with db.write() as session:
        row = await session.get(AlarmRecipient, (str(alarm_id), workstation_id))
        alarm = await session.get(Alarm, str(alarm_id))
        if row is None or alarm is None:
            raise AlarmError("not_a_recipient", "this workstation did not get that alarm")
        if row.instruction == Instruction.STAY_AWAY.value:
            raise AlarmError("not_allowed", "level 3: stay away, do not go to the room")
        event = Event.ANSWER_ARRIVED if answer is Answer.ARRIVED else Event.ANSWER
        moved = decide(AlarmState(alarm.state), event, Actor.RECIPIENT, AlarmKind(alarm.kind))
        if answer is Answer.ARRIVED and row.answer not in _ON_THE_WAY:
            # "Bin da" moves the alarm to arrived: only someone who said they were
            # coming may say it (an operator marks arrival with Arrive instead).
            raise AlarmError(
                "not_allowed",
                "'arrived' only after 'coming': answer 'coming' first"
                " (or an operator marks help as arrived)",
            )
        now = utc_now()
        row.answer, row.responder_name = answer.value, name
        # "Bin da" after "Ich komme" keeps when they answered: response times start there.
        row.answered_at = (row.answered_at or now) if answer is Answer.ARRIVED else now
        if answer in (Answer.COMING, Answer.ARRIVED):
            alarm.next_escalation_at = None  # someone is on the way: no wider circle
        if answer is Answer.ARRIVED:
            row.arrived_at = now
        if alarm.state != moved.to.value:
            alarm.state = moved.to.value
        row.received_at = row.received_at or now  # an answer proves the popup was seen
        (await AuditTrail.open(session)).append(
            f"workstation:{workstation_id}",
            "alarm_answered",
            alarm_id=alarm_id,
            workstation_id=workstation_id,
            at=now,
            answer=answer.value,
        )
        if answer is Answer.CANNOT:
            await tell_if_everyone_cannot(session, alarm, now)
        return await load_record(session, alarm_id)
