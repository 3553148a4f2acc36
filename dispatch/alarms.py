"""The alarm store: persist, deduplicate, route and track every alarm and its audit trail."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, String, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.audit import HEAD_HASH, AuditTrail
from dispatch.database import Database, core_table
from dispatch.drills import active_drill, drill_scopes
from dispatch.identities import WorkstationView
from dispatch.models import (
    Alarm,
    AlarmRecipient,
    IncidentReport,
    Room,
    TopologyVersion,
    Workstation,
)
from dispatch.policy import Policy, policies_for_site
from dispatch.reports import write_report
from dispatch.rooms import room_refs
from dispatch.routing import Delivery, Placement
from dispatch.routing_snapshot import (
    RoutingSnapshot,
    current_version,
    read_placements,
    refreshed,
)
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
from shared.protocol import LevelSettings, RaiseAlarm, Responder, RoomRef, utc_now

OPEN_STATES = (
    AlarmState.ACTIVE.value,
    AlarmState.ACKNOWLEDGED.value,
    AlarmState.ARRIVED.value,
)
"""Alarms recipients are still told about."""
FOLLOW_UP_STATES = (*OPEN_STATES, AlarmState.CANCELLED.value)
"""Alarms the console still lists: a cancelled one waits for security to follow up."""
SELF_TEST_TIMEOUT = timedelta(seconds=60)
"""A self-test whose echo was not confirmed by then counts as failed."""
SELF_TEST_OPERATOR = "self-test"
LEVEL_SETTINGS_TTL_S = 10.0
"""How long a site's countdown and cancel window are reused for welcomes."""

# The group commit's statements: Core, on the tables, built once. Building a
# statement, or the ORM's handling of one, costs more Python than running it.
_ALARMS, _RECIPIENTS = core_table(Alarm), core_table(AlarmRecipient)
_VERSION = core_table(TopologyVersion)
_INSERT_ALARMS, _INSERT_RECIPIENTS = insert(_ALARMS), insert(_RECIPIENTS)
_ALARM_IDS = bindparam("alarm_ids", type_=String, expanding=True)
_BATCH_READS = (
    select(_VERSION.c.version, HEAD_HASH, _ALARMS.c.id, _ALARMS.c.workstation_id)
    .select_from(_VERSION)
    .outerjoin(_ALARMS, _ALARMS.c.id.in_(_ALARM_IDS))
    .where(_VERSION.c.id == 1)
)
_OWNERS = select(_ALARMS.c.id, _ALARMS.c.workstation_id).where(_ALARMS.c.id.in_(_ALARM_IDS))
_WORKSTATION_IDS = bindparam("workstation_ids", type_=String, expanding=True)
_OPEN_FOR = (
    select(Alarm)
    .where(Alarm.state.in_(OPEN_STATES))
    .where(
        Alarm.workstation_id.in_(_WORKSTATION_IDS)
        | Alarm.id.in_(
            select(AlarmRecipient.alarm_id).where(
                AlarmRecipient.workstation_id.in_(_WORKSTATION_IDS)
            )
        )
    )
    .order_by(Alarm.stored_at)
)
"""Open alarms the workstations raised or must be told about: read at every handshake,
so built once (its cache key is not derived again for each read)."""


_ON_THE_WAY = frozenset({Answer.COMING.value, Answer.ARRIVED.value})
"""Recipient answers after which "Bin da" (arrived) is accepted."""


class AlarmError(Exception):
    """A request about an alarm that cannot be carried out; ``code`` is the protocol's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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

    def recipient(self, workstation_id: str) -> RecipientState | None:
        if self._by_workstation is None:
            # Frozen: the index is a cache of the recipients, not a change of the record.
            index = {r.workstation_id: r for r in self.recipients}
            object.__setattr__(self, "_by_workstation", index)
            return index.get(workstation_id)
        return self._by_workstation.get(workstation_id)


class _PendingStore:
    """An alarm waiting for the next group commit, and the future its raiser awaits."""

    def __init__(
        self,
        message: RaiseAlarm,
        raiser: WorkstationView,
        raiser_name: str | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.message = message
        self.raiser = raiser
        self.raiser_name = raiser_name
        self.result: asyncio.Future[tuple[AlarmRecord, bool]] = loop.create_future()


@dataclass(frozen=True, slots=True)
class _NewAlarm:
    """A routed alarm of the batch being written: its record and the rows to insert."""

    record: AlarmRecord
    row: dict[str, object]
    recipients: list[dict[str, object]]


class AlarmStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: list[_PendingStore] = []
        self._drainer: asyncio.Task[None] | None = None
        self._level_settings: dict[int, tuple[float, list[LevelSettings]]] = {}
        self._routing: RoutingSnapshot | None = None
        # Told (before, after) whenever a newer routing snapshot replaces the one in
        # memory: the hub pushes moved workstations their new room (Hub.placements_moved).
        self.on_new_snapshot: Callable[[RoutingSnapshot, RoutingSnapshot], None] | None = None

    async def store(
        self, message: RaiseAlarm, raiser: WorkstationView, raiser_name: str | None
    ) -> tuple[AlarmRecord, bool]:
        """Persist and route a raised alarm; returns (record, newly stored) after the commit.

        The alarm id is the idempotency key: a retry returns the stored record
        unchanged. The room is the hub's mapping of the workstation; what the
        agent claims is only written to the audit trail.

        Alarms raised at the same time share one transaction and one fsync (group
        commit): the first caller starts a drainer that writes whatever has queued
        up, batch after batch, and ends when the queue is empty.
        """
        pending = _PendingStore(message, raiser, raiser_name, asyncio.get_running_loop())
        self._queue.append(pending)
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain(), name="alarm-writer")
        return await pending.result

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                await self._store_batch(batch)
        finally:
            self._drainer = None

    async def _store_batch(self, batch: list[_PendingStore]) -> None:
        written: list[tuple[_PendingStore, tuple[AlarmRecord, bool]]] = []
        try:
            async with self._db.write(urgent=True) as session:
                written = await self._write_batch(session, batch)
        except Exception as failed:
            # Nothing of the batch was committed: every raiser is told, and retries.
            for item in batch:
                if not item.result.done():
                    item.result.set_exception(failed)
            return
        for item, result in written:  # only now, after the commit
            item.result.set_result(result)

    async def _write_batch(
        self, session: AsyncSession, batch: list[_PendingStore]
    ) -> list[tuple[_PendingStore, tuple[AlarmRecord, bool]]]:
        """One group commit: a fixed number of statements however many alarms it holds.

        A refused alarm (``no_drill``, another workstation's id) is answered at once
        and leaves the others of the batch untouched.
        """
        await AuditTrail.lock(session)  # first: on PostgreSQL it orders the instances
        version, head, stored_owner = await _batch_reads(
            session, {str(item.message.alarm_id) for item in batch}
        )
        audit = AuditTrail.resume(session, head)
        routing = await self._routing_snapshot(session, version)
        fresh: dict[str, _NewAlarm] = {}
        duplicates: list[_PendingStore] = []
        written: list[tuple[_PendingStore, tuple[AlarmRecord, bool]]] = []
        for item in batch:
            alarm_id, raiser_id = str(item.message.alarm_id), item.raiser.id
            owner = stored_owner.get(alarm_id) or (
                fresh[alarm_id].record.workstation_id if alarm_id in fresh else None
            )
            if owner is not None and owner != raiser_id:
                item.result.set_exception(
                    AlarmError("not_allowed", "alarm id belongs to another workstation")
                )
            elif alarm_id in stored_owner:
                duplicates.append(item)
            elif alarm_id in fresh:  # a retry that arrived while the first was queued
                written.append((item, (fresh[alarm_id].record, False)))
            else:
                try:
                    fresh[alarm_id] = await self._plan(session, routing, audit, item)
                except AlarmError as refused:  # raised before anything of it was kept
                    item.result.set_exception(refused)
                    continue
                written.append((item, (fresh[alarm_id].record, True)))
        if fresh:
            await session.execute(_INSERT_ALARMS, [new.row for new in fresh.values()])
            recipients = [row for new in fresh.values() for row in new.recipients]
            if recipients:
                await session.execute(_INSERT_RECIPIENTS, recipients)
        if duplicates:
            ids = {str(item.message.alarm_id) for item in duplicates}
            stored = await session.scalars(select(Alarm).where(Alarm.id.in_(ids)))
            records = {str(r.id): r for r in await _load_records(session, list(stored))}
            written += [(item, (records[str(item.message.alarm_id)], False)) for item in duplicates]
        return written

    async def load_routing(self) -> None:
        """Reads the routing topology now, at start, so that the first alarm does not
        wait for it (ten thousand workstations take a noticeable part of a second)."""
        async with self._db.read() as session:
            await self._routing_snapshot(session, await current_version(session))

    async def _routing_snapshot(
        self, session: AsyncSession, version: int | None
    ) -> RoutingSnapshot:
        """The routing topology at ``version``: the one in memory unless the store's moved.

        A read racing the writer's may finish last with an older snapshot: that one
        routes its own transaction but never replaces a newer one in memory.
        """
        snapshot = await refreshed(session, self._routing, version)
        previous = self._routing
        if snapshot is previous:
            return snapshot
        if previous is None or _not_older(snapshot, previous):
            self._routing = snapshot
            if previous is not None and self.on_new_snapshot is not None:
                self.on_new_snapshot(previous, snapshot)
        return snapshot

    def placement(self, workstation_id: str) -> Placement | None:
        """Where the workstation is, as the routing snapshot in memory says."""
        return None if self._routing is None else self._routing.placement(workstation_id)

    async def refresh_routing(self) -> None:
        """Reloads the routing snapshot if the topology moved since it was read.

        The hub calls this every heartbeat round, so a PC moved while no alarm is
        raised still gets its new room pushed within seconds (``on_new_snapshot``).
        """
        async with self._db.read() as session:
            await self._routing_snapshot(session, await current_version(session))

    async def _plan(
        self,
        session: AsyncSession,
        routing: RoutingSnapshot,
        audit: AuditTrail,
        item: _PendingStore,
    ) -> _NewAlarm:
        """Routes one new alarm from memory; its rows are written with the batch's."""
        message, raiser, raiser_name = item.message, item.raiser, item.raiser_name
        now = utc_now()
        actor = f"workstation:{raiser.id}"
        # Where the raiser is, read once, now: this one placement routes the alarm and
        # is the room every display of it names. Not the room read when the agent
        # connected (the PC may have been moved since), never the agent's claim.
        placement = routing.placement(raiser.id) or await _placement(session, raiser.id)
        room = routing.room_ref(placement.room_id)
        if placement.room_id is not None and room is None:  # revoked raiser, room unknown
            room = (await room_refs(session, [placement.room_id])).get(placement.room_id)
        site_id = placement.site_id if placement.site_id is not None else raiser.site_id
        policy = routing.policy(site_id, message.level)
        drill_id: int | None = None
        escalation_due = _escalation_due(now, policy, 0)
        if message.kind is AlarmKind.SELF_TEST:
            # The echo goes back to the raiser only: it proves the whole path, bothers nobody.
            deliveries = [Delivery(raiser.id, Instruction.COME_HELP, with_location=True)]
            escalation_due = None
        else:
            scopes = policy.scopes
            if message.kind is AlarmKind.DRILL:
                drill = await active_drill(session, site_id, now)
                if drill is None:
                    raise AlarmError(
                        "no_drill", "no drill is running at this site; drill alarm not accepted"
                    )
                drill_id, escalation_due = drill.id, None  # a drill never widens its circle
                scopes = drill_scopes(drill)
            deliveries = routing.route(message.level, placement, scopes)
        cancel_window = 0 if message.kind is AlarmKind.SELF_TEST else policy.cancel_window_s
        # A self-test's raiser is the agent's own check, never a person waiting for help.
        reach_due = (
            None
            if message.kind is AlarmKind.SELF_TEST
            else now + timedelta(seconds=policy.nobody_reached_s)
        )
        cancel_until = now + timedelta(seconds=cancel_window)
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
            "cancel_until": cancel_until,
            "raiser_feedback": policy.raiser_feedback.value,
            "reach_due_at": reach_due,
        }
        audit.append(
            actor,
            "alarm_raised",
            alarm_id=message.alarm_id,
            workstation_id=raiser.id,
            room_id=placement.room_id,
            at=now,
            level=int(message.level),
            trigger=message.trigger.value,
            kind=message.kind.value,
            recipients=len(deliveries),
        )
        own_number = room.number if room else None
        if message.claimed_room is not None and message.claimed_room != own_number:
            audit.append(
                actor,
                "room_claim_ignored",
                alarm_id=message.alarm_id,
                workstation_id=raiser.id,
                room_id=placement.room_id,
                at=now,
                claimed=message.claimed_room,
                mapped=own_number,
            )
        # Built from what is written: re-reading thousands of recipients costs more.
        record = AlarmRecord(
            id=message.alarm_id,
            level=message.level,
            state=AlarmState.ACTIVE,
            trigger=message.trigger,
            workstation_id=raiser.id,
            room=room,
            raiser_name=raiser_name,
            raised_at=message.raised_at,
            stored_at=now,
            acknowledged_by=None,
            resolved_by=None,
            cancel_until=cancel_until,
            kind=message.kind,
            drill_id=drill_id,
            room_id=placement.room_id,
            floor_id=placement.floor_id,
            site_id=site_id,
            raiser_feedback=policy.raiser_feedback,
            recipients=tuple(
                RecipientState(
                    workstation_id=d.workstation_id,
                    instruction=d.instruction,
                    with_location=d.with_location,
                    received=False,
                    answer=None,
                    responder_name=None,
                    responder_room=None,
                    answered_at=None,
                )
                for d in sorted(deliveries, key=lambda d: d.workstation_id)
            ),
        )
        return _NewAlarm(record, row, _recipient_rows(str(message.alarm_id), deliveries, step=0))

    async def record_receipts(self, receipts: Collection[tuple[uuid.UUID, str]]) -> ReceiptOutcome:
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
        async with self._db.write() as session:
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
            passed = await _close_self_tests(session, audit, now, Alarm.id.in_(reached), ok=True)
        return ReceiptOutcome(
            {uuid.UUID(alarm_id) for alarm_id in reached},
            {r.workstation_id: r.at for r in passed},
        )

    async def expire_self_tests(self, now: datetime) -> list[SelfTestResult]:
        """Self-tests whose echo was never confirmed have failed: the PC is not protected."""
        overdue = (Alarm.stored_at < now - SELF_TEST_TIMEOUT,)
        async with self._db.read() as session:  # the common case: none, no write lock
            if not await session.scalar(
                select(Alarm.id)
                .where(Alarm.kind == AlarmKind.SELF_TEST.value, Alarm.state.in_(OPEN_STATES))
                .where(*overdue)
                .limit(1)
            ):
                return []
        async with self._db.write() as session:
            audit = await AuditTrail.open(session)
            return await _close_self_tests(session, audit, now, *overdue, ok=False)

    async def record_receipt(self, alarm_id: uuid.UUID, workstation_id: str) -> AlarmRecord | None:
        """Marks the alarm as on the recipient's screen; None when nothing changed."""
        async with self._db.write() as session:
            row = await session.get(AlarmRecipient, (str(alarm_id), workstation_id))
            if row is None:
                raise AlarmError("not_a_recipient", "this workstation did not get that alarm")
            if row.received_at is not None:
                return None
            row.received_at = utc_now()
            (await AuditTrail.open(session)).append(
                f"workstation:{workstation_id}",
                "alarm_delivered",
                alarm_id=alarm_id,
                workstation_id=workstation_id,
                at=row.received_at,
            )
            return await _load_one(session, alarm_id)

    async def record_answer(
        self, alarm_id: uuid.UUID, workstation_id: str, answer: Answer, name: str
    ) -> AlarmRecord:
        async with self._db.write() as session:
            row = await session.get(AlarmRecipient, (str(alarm_id), workstation_id))
            alarm = await session.get(Alarm, str(alarm_id))
            if row is None or alarm is None:
                raise AlarmError("not_a_recipient", "this workstation did not get that alarm")
            if row.instruction == Instruction.STAY_AWAY.value:
                raise AlarmError("not_allowed", "level 3: stay away, do not go to the room")
            if alarm.kind == AlarmKind.SELF_TEST.value:
                raise AlarmError("not_allowed", "a self-test is not answered")
            if alarm.state not in OPEN_STATES:
                raise AlarmError("not_allowed", "the alarm is resolved already")
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
                alarm.state = AlarmState.ARRIVED.value
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
                await _tell_if_everyone_cannot(session, alarm, now)
            return await _load_one(session, alarm_id)

    async def acknowledge(self, alarm_id: uuid.UUID, operator: str) -> AlarmRecord:
        """An operator takes the alarm; once help has arrived it only records who."""
        return await self._operator_transition(
            alarm_id,
            operator,
            AlarmState.ACKNOWLEDGED,
            from_states=(AlarmState.ACTIVE, AlarmState.ARRIVED),
        )

    async def arrive(self, alarm_id: uuid.UUID, operator: str) -> AlarmRecord:
        """An operator confirms help is at the room."""
        return await self._operator_transition(
            alarm_id,
            operator,
            AlarmState.ARRIVED,
            from_states=(AlarmState.ACTIVE, AlarmState.ACKNOWLEDGED),
        )

    async def resolve(
        self, alarm_id: uuid.UUID, operator: str, report: Report | None = None
    ) -> AlarmRecord:
        """The all-clear, with the incident report when the operator wrote one.

        For a cancelled alarm it ends security's follow-up. The report is written
        in the same transaction as the state: never an all-clear whose report got lost.
        """
        return await self._operator_transition(
            alarm_id,
            operator,
            AlarmState.RESOLVED,
            from_states=(
                AlarmState.ACTIVE,
                AlarmState.ACKNOWLEDGED,
                AlarmState.ARRIVED,
                AlarmState.CANCELLED,
            ),
            report=report,
        )

    async def cancel(self, alarm_id: uuid.UUID, raiser: WorkstationView) -> AlarmRecord:
        """The raiser withdraws the alarm within the policy's window (a wrong key, say).

        Security keeps seeing it as "cancelled — follow up": someone under
        pressure may have been made to cancel.
        """
        async with self._db.write() as session:
            alarm = await session.get(Alarm, str(alarm_id))
            if alarm is None or alarm.workstation_id != raiser.id:
                raise AlarmError("unknown_alarm", "no such alarm raised by this workstation")
            if alarm.state not in OPEN_STATES:
                raise AlarmError("not_allowed", f"alarm is {alarm.state}, cannot be cancelled")
            now = utc_now()
            if alarm.cancel_until is None or now > alarm.cancel_until:
                raise AlarmError("not_allowed", "the cancel window has passed; the alarm stays")
            alarm.state = AlarmState.CANCELLED.value
            alarm.cancelled_at = now
            alarm.next_escalation_at = None
            (await AuditTrail.open(session)).append(
                f"workstation:{raiser.id}",
                "alarm_cancelled",
                alarm_id=alarm_id,
                workstation_id=raiser.id,
                room_id=alarm.room_id,
                at=now,
            )
            return await _load_one(session, alarm_id)

    async def console_seen(self, alarm_id: uuid.UUID, operator: str) -> AlarmRecord | None:
        """A console has rendered the alarm: it counts as reached. None when nothing changed.

        Only the first console is recorded and audited; later ones change nothing.
        """
        async with self._db.read() as session:  # the common case: seen already, no write lock
            seen = await session.scalar(
                select(Alarm.console_seen_at).where(Alarm.id == str(alarm_id))
            )
            if seen is not None:
                return None
        async with self._db.write() as session:
            audit = await AuditTrail.open(session)  # first: two consoles, one audit event
            alarm = await session.get(Alarm, str(alarm_id))
            if alarm is None:
                raise AlarmError("unknown_alarm", "no such alarm")
            if alarm.console_seen_at is not None:
                return None
            now = utc_now()
            alarm.console_seen_at = now
            audit.append(
                f"operator:{operator}",
                "alarm_seen",
                alarm_id=alarm_id,
                workstation_id=alarm.workstation_id,
                room_id=alarm.room_id,
                at=now,
            )
            return await _load_one(session, alarm_id)

    async def decide_reach(self, now: datetime) -> list[tuple[AlarmRecord, bool]]:
        """Alarms whose nobody-reached time has come: was anyone reached? (record, reached)

        Reached: a recipient's popup is on screen, a console showed the alarm, or it
        is no longer waiting for anyone (acknowledged, arrived, cancelled, resolved).
        Otherwise the raiser is told, once: ``nobody_reached_at`` is set and audited.
        The timer is the column ``reach_due_at``, so it survives a hub restart.
        """
        async with self._db.read() as session:  # the common case: nothing due, no write lock
            if not await session.scalar(select(Alarm.id).where(Alarm.reach_due_at <= now).limit(1)):
                return []
        decided: list[tuple[AlarmRecord, bool]] = []
        async with self._db.write() as session:
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
                    alarm.state != AlarmState.ACTIVE.value
                    or alarm.console_seen_at is not None
                    or alarm.id in received
                    or alarm.nobody_reached_at is not None  # told already (all "Kann nicht")
                )
                if not reached:
                    _tell_nobody_reached(audit, alarm, now, reason="no_confirmation")
                decided.append(((await _load_records(session, [alarm]))[0], reached))
        return decided

    async def escalate_due(self, now: datetime) -> list[tuple[AlarmRecord, list[str]]]:
        """Widens the circle of every alarm nobody acknowledged in time.

        The timers are the alarms' ``next_escalation_at``, so they survive a
        hub restart. Returns each escalated alarm with the workstations added.
        """
        escalated: list[tuple[AlarmRecord, list[str]]] = []
        async with self._db.read() as session:  # the common case: nothing due, no write lock
            if not await session.scalar(
                select(Alarm.id)
                .where(Alarm.next_escalation_at <= now, Alarm.state == AlarmState.ACTIVE.value)
                .limit(1)
            ):
                return escalated
        async with self._db.write() as session:
            due = await session.scalars(
                select(Alarm).where(
                    Alarm.next_escalation_at <= now, Alarm.state == AlarmState.ACTIVE.value
                )
            )
            audit = await AuditTrail.open(session)
            routing = await self._routing_snapshot(session, await current_version(session))
            for alarm in list(due):
                added = await self._escalate(session, routing, alarm, audit)
                escalated.append(((await _load_records(session, [alarm]))[0], added))
        return escalated

    async def _escalate(
        self, session: AsyncSession, routing: RoutingSnapshot, alarm: Alarm, audit: AuditTrail
    ) -> list[str]:
        placement = routing.placement(alarm.workstation_id) or await _placement(
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
                _INSERT_RECIPIENTS, _recipient_rows(alarm.id, added, step=step_index + 1)
            )
        alarm.escalation_step = step_index + 1
        alarm.next_escalation_at = _escalation_due(alarm.stored_at, policy, step_index + 1)
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

    async def _operator_transition(
        self,
        alarm_id: uuid.UUID,
        operator: str,
        to: AlarmState,
        from_states: Sequence[AlarmState],
        report: Report | None = None,
    ) -> AlarmRecord:
        async with self._db.write() as session:
            alarm = await session.get(Alarm, str(alarm_id))
            if alarm is None:
                raise AlarmError("unknown_alarm", "no such alarm")
            if alarm.state == to.value:
                return await _load_one(session, alarm_id)  # a double click changes nothing
            if alarm.state not in {s.value for s in from_states}:
                raise AlarmError("not_allowed", f"alarm is {alarm.state}, cannot become {to.value}")
            if alarm.kind == AlarmKind.SELF_TEST.value:
                raise AlarmError("not_allowed", "a self-test closes itself")
            now = utc_now()
            action = f"alarm_{to.value}"
            alarm.next_escalation_at = None  # an operator has taken it: no wider circle
            if to is AlarmState.ACKNOWLEDGED:
                alarm.acknowledged_by, alarm.acknowledged_at = operator, now
                if alarm.state == AlarmState.ARRIVED.value:
                    to = AlarmState.ARRIVED  # help is there already: that state stays
            elif to is AlarmState.ARRIVED:
                alarm.arrived_by, alarm.arrived_at = operator, now
            else:
                alarm.resolved_by, alarm.resolved_at = operator, now
            alarm.state = to.value
            audit = await AuditTrail.open(session)
            audit.append(
                f"operator:{operator}",
                action,
                alarm_id=alarm_id,
                workstation_id=alarm.workstation_id,
                room_id=alarm.room_id,
                at=now,
            )
            if report is not None:
                await write_report(
                    session,
                    audit,
                    alarm,
                    report,
                    actor=f"operator:{operator}",
                    written_by=operator,
                    now=now,
                )
            return await _load_one(session, alarm_id)

    # --- reads ------------------------------------------------------------

    async def level_settings(self, site_id: int) -> list[LevelSettings]:
        """The part of the site's policy an agent needs before it sends (the welcome).

        Kept for a few seconds per site: after a hub restart thousands of agents say
        hello at once, and each would otherwise read the same policy rows again.
        """
        now = time.monotonic()
        cached = self._level_settings.get(site_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._db.read() as session:
            policies = await policies_for_site(session, site_id)
        settings = [
            LevelSettings(level=level, countdown_s=p.countdown_s, cancel_window_s=p.cancel_window_s)
            for level, p in policies.items()
        ]
        self._level_settings[site_id] = (now + LEVEL_SETTINGS_TTL_S, settings)
        return settings

    def forget_level_settings(self, site_id: int) -> None:
        """A policy changed here; other hub instances follow within the TTL."""
        self._level_settings.pop(site_id, None)

    async def get(self, alarm_id: uuid.UUID) -> AlarmRecord | None:
        async with self._db.read() as session:
            alarm = await session.get(Alarm, str(alarm_id))
            return (await _load_records(session, [alarm]))[0] if alarm else None

    async def open_alarms(self) -> list[AlarmRecord]:
        """Every alarm the console lists: open ones and cancelled ones to follow up.

        Self-tests are never listed: they show on the coverage board instead.
        """
        async with self._db.read() as session:
            rows = await session.scalars(
                select(Alarm)
                .where(Alarm.state.in_(FOLLOW_UP_STATES), Alarm.kind != AlarmKind.SELF_TEST.value)
                .order_by(Alarm.stored_at)
            )
            return await _load_records(session, list(rows))

    async def unconfirmed(self) -> dict[uuid.UUID, set[str]]:
        """Recipients of open alarms whose popup has not been confirmed, by alarm."""
        async with self._db.read() as session:
            rows = await session.execute(
                select(AlarmRecipient.alarm_id, AlarmRecipient.workstation_id)
                .join(Alarm, Alarm.id == AlarmRecipient.alarm_id)
                .where(Alarm.state.in_(OPEN_STATES), AlarmRecipient.received_at.is_(None))
            )
            missing: dict[uuid.UUID, set[str]] = {}
            for alarm_id, workstation_id in rows:
                missing.setdefault(uuid.UUID(alarm_id), set()).add(workstation_id)
            return missing

    async def open_alarms_for(self, workstation_id: str) -> list[AlarmRecord]:
        """Open alarms this workstation raised or must be told about, oldest first."""
        return (await self.open_alarms_for_many([workstation_id]))[workstation_id]

    async def open_alarms_for_many(
        self, workstation_ids: Sequence[str]
    ) -> dict[str, list[AlarmRecord]]:
        """``open_alarms_for`` of many workstations in one read (agents reconnecting together)."""
        wanted = {"workstation_ids": list(set(workstation_ids))}
        async with self._db.read() as session:
            records = await _load_records(session, list(await session.scalars(_OPEN_FOR, wanted)))
        return {
            ws: [r for r in records if r.workstation_id == ws or r.recipient(ws) is not None]
            for ws in workstation_ids
        }


def _not_older(snapshot: RoutingSnapshot, than: RoutingSnapshot) -> bool:
    if snapshot.version is None or than.version is None:
        return True  # no counter row: nothing to compare, the newest read wins
    return snapshot.version >= than.version


async def _batch_reads(
    session: AsyncSession, alarm_ids: set[str]
) -> tuple[int | None, str | None, dict[str, str]]:
    """What a group commit reads, in one statement: the topology version, the audit
    chain's head, and which of these alarm ids are stored already, by whom."""
    ids = {"alarm_ids": list(alarm_ids)}
    rows = (await session.execute(_BATCH_READS, ids)).all()
    if not rows:  # no version row (routing_snapshot.refreshed logs it): the rest alone
        head = await session.scalar(select(HEAD_HASH))
        owners = await session.execute(_OWNERS, ids)
        return None, head, {alarm_id: owner for alarm_id, owner in owners}
    version, head = rows[0][0], rows[0][1]
    return version, head, {alarm_id: owner for *_, alarm_id, owner in rows if alarm_id is not None}


async def _placement(session: AsyncSession, workstation_id: str) -> Placement:
    # Only for a raiser the routing snapshot leaves out (revoked since it connected).
    (placement,) = await read_placements(session, Workstation.id == workstation_id)
    return placement


def _recipient_rows(
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


def _escalation_due(stored_at: datetime, policy: Policy, step_index: int) -> datetime | None:
    if step_index >= len(policy.escalation):
        return None
    return stored_at + timedelta(seconds=policy.escalation[step_index].after_s)


async def _close_self_tests(
    session: AsyncSession,
    audit: AuditTrail,
    now: datetime,
    *where: ColumnElement[bool],
    ok: bool,
) -> list[SelfTestResult]:
    """Closes open self-tests matching ``where`` as passed or failed, on the workstation too."""
    alarms = await session.scalars(
        select(Alarm).where(
            Alarm.kind == AlarmKind.SELF_TEST.value, Alarm.state.in_(OPEN_STATES), *where
        )
    )
    results: list[SelfTestResult] = []
    for alarm in alarms:
        alarm.state = AlarmState.RESOLVED.value
        alarm.resolved_by, alarm.resolved_at = SELF_TEST_OPERATOR, now
        await session.execute(
            update(Workstation)
            .where(Workstation.id == alarm.workstation_id)
            .values(self_test_at=now, self_test_ok=ok)
        )
        audit.append(
            "hub",
            "self_test_passed" if ok else "self_test_failed",
            alarm_id=uuid.UUID(alarm.id),
            workstation_id=alarm.workstation_id,
            room_id=alarm.room_id,
            at=now,
        )
        results.append(SelfTestResult(alarm.workstation_id, now, ok))
    return results


async def _tell_if_everyone_cannot(session: AsyncSession, alarm: Alarm, now: datetime) -> None:
    """Every recipient answered "Kann nicht" and no operator took it: nobody is coming."""
    if alarm.state != AlarmState.ACTIVE.value or alarm.nobody_reached_at is not None:
        return
    answers = list(
        await session.scalars(
            select(AlarmRecipient.answer).where(AlarmRecipient.alarm_id == alarm.id)
        )
    )
    if answers and all(a == Answer.CANNOT.value for a in answers):
        _tell_nobody_reached(await AuditTrail.open(session), alarm, now, reason="all_cannot")


def _tell_nobody_reached(audit: AuditTrail, alarm: Alarm, now: datetime, reason: str) -> None:
    alarm.nobody_reached_at = now
    alarm.reach_due_at = None  # decided
    audit.append(
        "hub",
        "alarm_nobody_reached",
        alarm_id=uuid.UUID(alarm.id),
        workstation_id=alarm.workstation_id,
        room_id=alarm.room_id,
        at=now,
        reason=reason,
    )


def _report(row: IncidentReport) -> Report:
    return Report(
        assessed_level=AlarmLevel(row.assessed_level),
        police_called=row.police_called,
        injuries=row.injuries,
        property_damage=row.property_damage,
        house_ban=row.house_ban,
        notes=row.notes,
    )


async def _load_one(session: AsyncSession, alarm_id: uuid.UUID) -> AlarmRecord:
    alarm = await session.get(Alarm, str(alarm_id))
    assert alarm is not None
    return (await _load_records(session, [alarm]))[0]


async def _load_records(session: AsyncSession, alarms: Sequence[Alarm]) -> list[AlarmRecord]:
    if not alarms:
        return []
    ids = [a.id for a in alarms]
    room_ids = {a.room_id for a in alarms if a.room_id is not None}
    rooms = await room_refs(session, room_ids)
    floors: dict[int, int] = {}
    room_sites: dict[int, int] = {}
    if room_ids:
        rows = await session.execute(
            select(Room.id, Room.floor_id, Room.site_id).where(Room.id.in_(room_ids))
        )
        for room_id, floor_id, room_site in rows:
            floors[room_id], room_sites[room_id] = floor_id, room_site
    reports = {
        r.alarm_id: _report(r)
        for r in await session.scalars(
            select(IncidentReport).where(IncidentReport.alarm_id.in_(ids))
        )
    }
    site_rows = await session.execute(
        select(Workstation.id, Workstation.site_id).where(
            Workstation.id.in_({a.workstation_id for a in alarms})
        )
    )
    sites = {workstation_id: site_id for workstation_id, site_id in site_rows}
    recipient_rows = await session.execute(
        select(AlarmRecipient, Room.number)
        .join(Workstation, Workstation.id == AlarmRecipient.workstation_id)
        .outerjoin(Room, Room.id == Workstation.room_id)
        .where(AlarmRecipient.alarm_id.in_(ids))
    )
    recipients: dict[str, list[RecipientState]] = {i: [] for i in ids}
    for row, room_number in recipient_rows:
        recipients[row.alarm_id].append(
            RecipientState(
                workstation_id=row.workstation_id,
                instruction=Instruction(row.instruction),
                with_location=row.with_location,
                received=row.received_at is not None,
                answer=Answer(row.answer) if row.answer else None,
                responder_name=row.responder_name,
                responder_room=room_number if row.answer else None,
                answered_at=row.answered_at,
                arrived=row.arrived_at is not None,
            )
        )
    return [
        AlarmRecord(
            id=uuid.UUID(a.id),
            level=AlarmLevel(a.level),
            state=AlarmState(a.state),
            trigger=Trigger(a.trigger),
            workstation_id=a.workstation_id,
            room=rooms[a.room_id] if a.room_id is not None else None,
            raiser_name=a.raiser_name,
            raised_at=a.raised_at,
            stored_at=a.stored_at,
            acknowledged_by=a.acknowledged_by,
            resolved_by=a.resolved_by,
            recipients=tuple(sorted(recipients[a.id], key=lambda r: r.workstation_id)),
            escalation_step=a.escalation_step,
            cancel_until=a.cancel_until,
            kind=AlarmKind(a.kind),
            drill_id=a.drill_id,
            room_id=a.room_id,
            floor_id=floors.get(a.room_id) if a.room_id is not None else None,
            # The site of the room it was stored with: the PC may have moved since.
            site_id=room_sites.get(a.room_id)
            if a.room_id is not None
            else sites.get(a.workstation_id),
            arrived_by=a.arrived_by,
            cancelled_at=a.cancelled_at,
            raiser_feedback=RaiserFeedback(a.raiser_feedback),
            report=reports.get(a.id),
            nobody_reached_at=a.nobody_reached_at,
            console_seen_at=a.console_seen_at,
        )
        for a in alarms
    ]
