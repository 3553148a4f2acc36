"""Planning a new alarm: where the raiser is, whom it reaches, its timers, rows and record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.alarms.drills import active_drill, drill_scopes
from dispatch.alarms.lifecycle import AlarmError
from dispatch.alarms.record import AlarmRecord, RecipientState, alarm_record
from dispatch.directory.identities import WorkstationView
from dispatch.directory.rooms import room_refs
from dispatch.routing.policy import Policy, Scope
from dispatch.routing.rules import Delivery, Placement
from dispatch.routing.snapshot import RoutingSnapshot, read_placements
from dispatch.store.audit import AuditTrail
from dispatch.store.database import core_table
from dispatch.store.models import Alarm, AlarmRecipient, Workstation
from shared.domain import AlarmKind, AlarmState, Instruction
from shared.protocol import RaiseAlarm, RoomRef, utc_now

INSERT_RECIPIENTS = insert(core_table(AlarmRecipient))
"""Takes ``recipient_rows``: Core, built once (an alarm to thousands is one executemany)."""


@dataclass(frozen=True, slots=True)
class NewAlarm:
    """A routed alarm of the batch being written: its record and the rows to insert.

    ``version`` is the topology version of the routing snapshot that routed it: an alarm
    routed ahead of its transaction (``announce``) is kept as it is if the transaction
    reads the same version."""

    record: AlarmRecord
    row: dict[str, object]
    recipients: list[dict[str, object]]
    version: int | None = None


def announce(
    routing: RoutingSnapshot,
    message: RaiseAlarm,
    raiser: WorkstationView,
    raiser_name: str | None,
) -> NewAlarm | None:
    """Routes a new alarm from memory alone, ahead of its transaction, so that its popups
    can go out while it is committed; None where routing needs the store (a drill, a
    self-test, a raiser or room the snapshot lacks): such an alarm is routed in its
    transaction, as before."""
    if message.kind is not AlarmKind.ALARM or routing.version is None:
        return None
    placement = routing.placement(raiser.id)
    if placement is None:
        return None
    room = routing.room_ref(placement.room_id)
    if placement.room_id is not None and room is None:
        return None
    return _routed(routing, message, raiser, raiser_name, placement, room, None, None)


async def plan(
    session: AsyncSession,
    routing: RoutingSnapshot,
    audit: AuditTrail,
    message: RaiseAlarm,
    raiser: WorkstationView,
    raiser_name: str | None,
    announced: NewAlarm | None = None,
) -> NewAlarm:
    """Routes one new alarm from memory; its rows are written with the batch's.

    An alarm routed ahead (``announced``, its popups already out) is stored as announced
    when the topology has not moved since; if it has, it is routed again, and everyone
    already told stays a recipient (told once, they must also hear how it ends).
    """
    if announced is not None and announced.version == routing.version:
        new = announced
    else:
        new = await _plan(session, routing, message, raiser, raiser_name)
        if announced is not None:
            new = _with_recipients_of(new, announced)
    _note_raised(audit, new.record, message, raiser.session_host)
    return new


async def _plan(
    session: AsyncSession,
    routing: RoutingSnapshot,
    message: RaiseAlarm,
    raiser: WorkstationView,
    raiser_name: str | None,
) -> NewAlarm:
    # Where the raiser is, read once, now: this one placement routes the alarm and
    # is the room every display of it names. Not the room read when the agent
    # connected (the PC may have been moved since), never the agent's claim.
    placement = routing.placement(raiser.id) or await read_placement(session, raiser.id)
    now = utc_now()
    room = routing.room_ref(placement.room_id)
    if placement.room_id is not None and room is None:  # revoked raiser, room unknown
        room = (await room_refs(session, [placement.room_id])).get(placement.room_id)
    drill: tuple[int, frozenset[Scope]] | None = None
    if message.kind is AlarmKind.DRILL:
        site_id = placement.site_id if placement.site_id is not None else raiser.site_id
        found = await active_drill(session, site_id, now)
        if found is None:
            raise AlarmError(
                "no_drill", "no drill is running at this site; drill alarm not accepted"
            )
        drill = found.id, drill_scopes(found)
    return _routed(routing, message, raiser, raiser_name, placement, room, drill, now)


def _routed(
    routing: RoutingSnapshot,
    message: RaiseAlarm,
    raiser: WorkstationView,
    raiser_name: str | None,
    placement: Placement,
    room: RoomRef | None,
    drill: tuple[int, frozenset[Scope]] | None,
    now: datetime | None,
) -> NewAlarm:
    """The alarm's record and rows, from plain values: who is told what, and its timers."""
    now = now or utc_now()
    site_id = placement.site_id if placement.site_id is not None else raiser.site_id
    policy = routing.policy(site_id, message.level)
    drill_id: int | None = None
    escalation_due = next_escalation(now, policy, 0)
    if message.kind is AlarmKind.SELF_TEST:
        # The echo goes back to the raiser only: it proves the whole path, bothers nobody.
        deliveries = [Delivery(raiser.id, Instruction.COME_HELP, with_location=True)]
        escalation_due = None
    else:
        scopes = policy.scopes
        if drill is not None:
            drill_id, scopes = drill
            escalation_due = None  # a drill never widens its circle
        deliveries = routing.route(message.level, placement, scopes)
    cancel_window = 0 if message.kind is AlarmKind.SELF_TEST else policy.cancel_window_s
    # A self-test's raiser is the agent's own check, never a person waiting for help.
    reach_due = (
        None
        if message.kind is AlarmKind.SELF_TEST
        else now + timedelta(seconds=policy.nobody_reached_s)
    )
    row: dict[str, object] = {
        "id": str(message.alarm_id),
        "workstation_id": raiser.id,
        "room_id": placement.room_id,
        "level": int(message.level),
        "trigger": message.trigger.value,
        "state": AlarmState.ACTIVE.value,
        "raiser_name": raiser_name,
        "claimed_room": message.claimed_room,
        "raised_at": message.raised_at,
        "stored_at": now,
        "kind": message.kind.value,
        "drill_id": drill_id,
        "escalation_step": 0,
        "next_escalation_at": escalation_due,
        "cancel_until": now + timedelta(seconds=cancel_window),
        "raiser_feedback": policy.raiser_feedback.value,
        "reach_due_at": reach_due,
    }
    # Built from what is written: re-reading thousands of recipients costs more.
    record = alarm_record(
        Alarm(**row),  # not added to the session: the batch inserts the row
        room=room,
        floor_id=placement.floor_id,
        site_id=site_id,
        recipients=(RecipientState.routed(d) for d in deliveries),
    )
    rows = recipient_rows(str(message.alarm_id), deliveries, step=0)
    return NewAlarm(record, row, rows, routing.version)


def _with_recipients_of(new: NewAlarm, announced: NewAlarm) -> NewAlarm:
    """``new`` with the recipients ``announced`` told that its routing no longer names."""
    kept = {r.workstation_id for r in new.record.recipients}
    told = [r for r in announced.record.recipients if r.workstation_id not in kept]
    if not told:
        return new
    deliveries = [Delivery(r.workstation_id, r.instruction, r.with_location) for r in told]
    record = replace(
        new.record, recipients=tuple(sorted((*new.record.recipients, *told), key=_by_ws))
    )
    rows = new.recipients + recipient_rows(str(record.id), deliveries, step=0)
    return NewAlarm(record, new.row, rows, new.version)


def _by_ws(recipient: RecipientState) -> str:
    return recipient.workstation_id


def _note_raised(
    audit: AuditTrail, record: AlarmRecord, message: RaiseAlarm, session_host: str | None
) -> None:
    """The alarm's audit events, appended in the transaction that stores it."""

    def note(action: str, **detail: object) -> None:
        audit.append(
            f"workstation:{record.workstation_id}",
            action,
            alarm_id=message.alarm_id,
            workstation_id=record.workstation_id,
            room_id=record.room_id,
            at=record.stored_at,
            **detail,
        )

    note(
        "alarm_raised",
        level=int(message.level),
        trigger=message.trigger.value,
        kind=message.kind.value,
        recipients=len(record.recipients),
        # A remote session's alarm (issue 19): the raiser is the client device; the trail
        # also names the terminal server it came through.
        **({} if session_host is None else {"session_host": session_host}),
    )
    own_number = record.room.number if record.room else None
    if message.claimed_room is not None and message.claimed_room != own_number:
        note("room_claim_ignored", claimed=message.claimed_room, mapped=own_number)


async def read_placement(session: AsyncSession, workstation_id: str) -> Placement:
    """Only for a raiser the routing snapshot leaves out (revoked since it connected)."""
    (placement,) = await read_placements(session, Workstation.id == workstation_id)
    return placement


def recipient_rows(
    alarm_id: str, deliveries: Sequence[Delivery], step: int
) -> list[dict[str, object]]:
    """Rows for one executemany: no ORM object per recipient (level 3: thousands)."""
    return [
        {
            "alarm_id": alarm_id,
            "workstation_id": d.workstation_id,
            "instruction": d.instruction.value,
            "with_location": d.with_location,
            "step": step,
        }
        for d in deliveries
    ]


def next_escalation(stored_at: datetime, policy: Policy, step_index: int) -> datetime | None:
    """When the alarm widens its circle to step ``step_index`` (None: it never does)."""
    if step_index >= len(policy.escalation):
        return None
    return stored_at + timedelta(seconds=policy.escalation[step_index].after_s)
