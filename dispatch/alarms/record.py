"""An alarm as the hub passes it around: the record of one stored alarm and its recipients."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from dispatch.alarms.lifecycle import OPEN_STATES
from dispatch.routing.rules import Delivery
from dispatch.store.models import Alarm
from shared.domain import (
    AlarmKind,
    AlarmLevel,
    AlarmState,
    Answer,
    Instruction,
    RaiserFeedback,
    Trigger,
)
from shared.protocol import IncidentReport as Report
from shared.protocol import Responder, RoomRef


@dataclass(frozen=True, slots=True)
class RecipientState:
    workstation_id: str
    instruction: Instruction
    with_location: bool
    received: bool
    answer: Answer | None
    responder_name: str | None
    responder_room: str | None
    answered_at: datetime | None
    arrived: bool = False

    @classmethod
    def routed(cls, delivery: Delivery) -> RecipientState:
        """A recipient just routed to: nothing received or answered yet."""
        return cls(
            workstation_id=delivery.workstation_id,
            instruction=delivery.instruction,
            with_location=delivery.with_location,
            received=False,
            answer=None,
            responder_name=None,
            responder_room=None,
            answered_at=None,
        )


@dataclass(frozen=True, slots=True)
class ReceiptOutcome:
    """What a batch of receipts changed: alarms, and self-tests that have now passed."""

    changed: set[uuid.UUID]
    self_tests_passed: dict[str, datetime]  # workstation id -> when


@dataclass(frozen=True, slots=True)
class SelfTestResult:
    workstation_id: str
    at: datetime
    ok: bool


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    """One alarm with its recipients, as stored."""

    id: uuid.UUID
    level: AlarmLevel
    state: AlarmState
    trigger: Trigger
    workstation_id: str
    room: RoomRef | None
    raiser_name: str | None
    raised_at: datetime
    stored_at: datetime
    acknowledged_by: str | None
    resolved_by: str | None
    recipients: tuple[RecipientState, ...]
    escalation_step: int = 0
    cancel_until: datetime | None = None
    kind: AlarmKind = AlarmKind.ALARM
    drill_id: int | None = None
    room_id: int | None = None
    floor_id: int | None = None
    site_id: int | None = None
    arrived_by: str | None = None
    cancelled_at: datetime | None = None
    raiser_feedback: RaiserFeedback = RaiserFeedback.COUNT
    report: Report | None = None
    nobody_reached_at: datetime | None = None  # when the raiser was told nobody was reached
    console_seen_at: datetime | None = None  # when a console first showed it
    # The raiser withdrew it under duress: open at level 3 for security, "withdrawn" for
    # the raiser and staff (dispatch/alarms/duress.py).
    cancelled_under_duress_at: datetime | None = None
    # Built on the first recipient() lookup: an alarm to 10,000 PCs is looked up once
    # per recipient while it is fanned out, and a scan each time was quadratic.
    _by_workstation: dict[str, RecipientState] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def is_open(self) -> bool:
        return self.state.value in OPEN_STATES

    @property
    def delivered(self) -> int:
        """Recipients whose popup is on screen."""
        return sum(1 for r in self.recipients if r.received)

    @property
    def coming(self) -> int:
        """Responders on their way or already there."""
        return sum(1 for r in self.recipients if r.answer in (Answer.COMING, Answer.ARRIVED))

    @property
    def responders(self) -> list[Responder]:
        answered = [r for r in self.recipients if r.answer is not None]
        answered.sort(key=lambda r: r.answered_at or self.stored_at)
        return [
            Responder(
                name=r.responder_name or r.workstation_id, room=r.responder_room, answer=r.answer
            )
            for r in answered
            if r.answer is not None
        ]

    @property
    def cancel_window_s(self) -> int:
        """Seconds after storing in which the raiser may cancel (0: not at all)."""
        if self.cancel_until is None:
            return 0
        return max(0, round((self.cancel_until - self.stored_at).total_seconds()))

    @property
    def under_duress(self) -> bool:
        return self.cancelled_under_duress_at is not None

    def told_withdrawn(self, recipient: RecipientState) -> bool:
        """A staff colleague of an alarm withdrawn under duress: told it was withdrawn, like
        after a normal cancel, and sent nothing more; only security keeps it."""
        return self.under_duress and recipient.instruction is not Instruction.SECURE_AND_CALL_POLICE

    def recipient(self, workstation_id: str) -> RecipientState | None:
        if self._by_workstation is None:
            # Frozen: the index is a cache of the recipients, not a change of the record.
            index = {r.workstation_id: r for r in self.recipients}
            object.__setattr__(self, "_by_workstation", index)
            return index.get(workstation_id)
        return self._by_workstation.get(workstation_id)


def alarm_record(
    alarm: Alarm,
    *,
    room: RoomRef | None,
    floor_id: int | None,
    site_id: int | None,
    recipients: Iterable[RecipientState],
    report: Report | None = None,
) -> AlarmRecord:
    """The record of a stored alarm's row (read back, or just written) and its recipients."""
    return AlarmRecord(
        id=uuid.UUID(alarm.id),
        level=AlarmLevel(alarm.level),
        state=AlarmState(alarm.state),
        trigger=Trigger(alarm.trigger),
        workstation_id=alarm.workstation_id,
        room=room,
        raiser_name=alarm.raiser_name,
        raised_at=alarm.raised_at,
        stored_at=alarm.stored_at,
        acknowledged_by=alarm.acknowledged_by,
        resolved_by=alarm.resolved_by,
        recipients=tuple(sorted(recipients, key=lambda r: r.workstation_id)),
        escalation_step=alarm.escalation_step,
        cancel_until=alarm.cancel_until,
        kind=AlarmKind(alarm.kind),
        drill_id=alarm.drill_id,
        room_id=alarm.room_id,
        floor_id=floor_id,
        site_id=site_id,
        arrived_by=alarm.arrived_by,
        cancelled_at=alarm.cancelled_at,
        raiser_feedback=RaiserFeedback(alarm.raiser_feedback),
        report=report,
        nobody_reached_at=alarm.nobody_reached_at,
        console_seen_at=alarm.console_seen_at,
        cancelled_under_duress_at=alarm.cancelled_under_duress_at,
    )
