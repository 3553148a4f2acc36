"""The alarm store: persist, deduplicate, route and track every alarm and its audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import topology
from dispatch.audit import AuditTrail
from dispatch.database import Database
from dispatch.directory import WorkstationView, room_refs
from dispatch.models import Alarm, AlarmRecipient, Room, RoomNeighbour, Site, Workstation
from dispatch.routing import Placement, route
from shared.domain import AlarmLevel, AlarmState, Answer, Instruction, Trigger, WorkstationRole
from shared.protocol import RaiseAlarm, Responder, RoomRef, utc_now

OPEN_STATES = (AlarmState.ACTIVE.value, AlarmState.ACKNOWLEDGED.value)


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

    @property
    def is_open(self) -> bool:
        return self.state.value in OPEN_STATES

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

    def recipient(self, workstation_id: str) -> RecipientState | None:
        return next((r for r in self.recipients if r.workstation_id == workstation_id), None)


class AlarmStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def store(
        self, message: RaiseAlarm, raiser: WorkstationView, raiser_name: str | None
    ) -> tuple[AlarmRecord, bool]:
        """Persist and route a raised alarm; returns (record, newly stored).

        The alarm id is the idempotency key: a retry returns the stored record
        unchanged. The room is the hub's mapping of the workstation; what the
        agent claims is only written to the audit trail.
        """
        now = utc_now()
        actor = f"workstation:{raiser.id}"
        async with self._db.write() as session:
            existing = await session.get(Alarm, str(message.alarm_id))
            if existing is not None:
                if existing.workstation_id != raiser.id:
                    raise AlarmError("not_allowed", "alarm id belongs to another workstation")
                return (await _load_records(session, [existing]))[0], False

            neighbours = await _neighbours(session, raiser.room_id)
            deliveries = route(
                message.level,
                Placement(raiser.id, raiser.room_id, raiser.role),
                neighbours,
                await _candidates(session, raiser.site_id, message.level, neighbours),
            )
            alarm = Alarm(
                id=str(message.alarm_id),
                workstation_id=raiser.id,
                room_id=raiser.room_id,
                level=int(message.level),
                trigger=message.trigger.value,
                state=AlarmState.ACTIVE.value,
                raiser_name=raiser_name,
                claimed_room=message.claimed_room,
                raised_at=message.raised_at,
                stored_at=now,
            )
            session.add(alarm)
            await session.flush()
            if deliveries:
                # One executemany instead of one ORM object per recipient (level 3: thousands).
                await session.execute(
                    insert(AlarmRecipient),
                    [
                        {
                            "alarm_id": alarm.id,
                            "workstation_id": d.workstation_id,
                            "instruction": d.instruction.value,
                            "with_location": d.with_location,
                            "step": 0,
                        }
                        for d in deliveries
                    ],
                )
            audit = await AuditTrail.open(session)
            audit.append(
                actor,
                "alarm_raised",
                alarm_id=message.alarm_id,
                workstation_id=raiser.id,
                room_id=raiser.room_id,
                at=now,
                level=int(message.level),
                trigger=message.trigger.value,
                recipients=len(deliveries),
            )
            own_number = raiser.room.number if raiser.room else None
            if message.claimed_room is not None and message.claimed_room != own_number:
                audit.append(
                    actor,
                    "room_claim_ignored",
                    alarm_id=message.alarm_id,
                    workstation_id=raiser.id,
                    room_id=raiser.room_id,
                    at=now,
                    claimed=message.claimed_room,
                    mapped=own_number,
                )
        # Built from what was just written: re-reading thousands of recipients costs more.
        return (
            AlarmRecord(
                id=message.alarm_id,
                level=message.level,
                state=AlarmState.ACTIVE,
                trigger=message.trigger,
                workstation_id=raiser.id,
                room=raiser.room,
                raiser_name=raiser_name,
                raised_at=message.raised_at,
                stored_at=now,
                acknowledged_by=None,
                resolved_by=None,
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
            ),
            True,
        )

    async def record_receipts(self, receipts: Collection[tuple[uuid.UUID, str]]) -> set[uuid.UUID]:
        """Marks many popups as on screen in one transaction; returns the alarms that changed.

        Receipts are batched by the hub: one commit for all that arrived within a
        few milliseconds instead of one each, so receipts never queue ahead of
        new alarms. A receipt from a non-recipient or a repeated one changes nothing.
        """
        if not receipts:
            return set()
        now = utc_now()
        changed: set[uuid.UUID] = set()
        async with self._db.write() as session:
            audit = await AuditTrail.open(session)
            for alarm_id, workstation_id in receipts:
                result = await session.execute(
                    update(AlarmRecipient)
                    .where(
                        AlarmRecipient.alarm_id == str(alarm_id),
                        AlarmRecipient.workstation_id == workstation_id,
                        AlarmRecipient.received_at.is_(None),
                    )
                    .values(received_at=now)
                )
                if result.rowcount:  # type: ignore[attr-defined]
                    changed.add(alarm_id)
                    audit.append(
                        f"workstation:{workstation_id}",
                        "alarm_delivered",
                        alarm_id=alarm_id,
                        workstation_id=workstation_id,
                        at=now,
                    )
        return changed

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
            if alarm.state not in OPEN_STATES:
                raise AlarmError("not_allowed", "the alarm is resolved already")
            now = utc_now()
            row.answer, row.responder_name, row.answered_at = answer.value, name, now
            row.received_at = row.received_at or now  # an answer proves the popup was seen
            (await AuditTrail.open(session)).append(
                f"workstation:{workstation_id}",
                "alarm_answered",
                alarm_id=alarm_id,
                workstation_id=workstation_id,
                at=now,
                answer=answer.value,
            )
            return await _load_one(session, alarm_id)

    async def acknowledge(self, alarm_id: uuid.UUID, operator: str) -> AlarmRecord:
        return await self._operator_transition(
            alarm_id, operator, AlarmState.ACKNOWLEDGED, from_states=(AlarmState.ACTIVE,)
        )

    async def resolve(self, alarm_id: uuid.UUID, operator: str) -> AlarmRecord:
        return await self._operator_transition(
            alarm_id,
            operator,
            AlarmState.RESOLVED,
            from_states=(AlarmState.ACTIVE, AlarmState.ACKNOWLEDGED),
        )

    async def _operator_transition(
        self,
        alarm_id: uuid.UUID,
        operator: str,
        to: AlarmState,
        from_states: Sequence[AlarmState],
    ) -> AlarmRecord:
        async with self._db.write() as session:
            alarm = await session.get(Alarm, str(alarm_id))
            if alarm is None:
                raise AlarmError("unknown_alarm", "no such alarm")
            if alarm.state == to.value:
                return await _load_one(session, alarm_id)  # a double click changes nothing
            if alarm.state not in {s.value for s in from_states}:
                raise AlarmError("not_allowed", f"alarm is {alarm.state}, cannot become {to.value}")
            now = utc_now()
            alarm.state = to.value
            if to is AlarmState.ACKNOWLEDGED:
                alarm.acknowledged_by, alarm.acknowledged_at = operator, now
            else:
                alarm.resolved_by, alarm.resolved_at = operator, now
            (await AuditTrail.open(session)).append(
                f"operator:{operator}",
                f"alarm_{to.value}",
                alarm_id=alarm_id,
                workstation_id=alarm.workstation_id,
                room_id=alarm.room_id,
                at=now,
            )
            return await _load_one(session, alarm_id)

    # --- reads ------------------------------------------------------------

    async def get(self, alarm_id: uuid.UUID) -> AlarmRecord | None:
        async with self._db.read() as session:
            alarm = await session.get(Alarm, str(alarm_id))
            return (await _load_records(session, [alarm]))[0] if alarm else None

    async def open_alarms(self) -> list[AlarmRecord]:
        async with self._db.read() as session:
            rows = await session.scalars(
                select(Alarm).where(Alarm.state.in_(OPEN_STATES)).order_by(Alarm.stored_at)
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
        async with self._db.read() as session:
            meant_for = select(AlarmRecipient.alarm_id).where(
                AlarmRecipient.workstation_id == workstation_id
            )
            rows = await session.scalars(
                select(Alarm)
                .where(Alarm.state.in_(OPEN_STATES))
                .where((Alarm.workstation_id == workstation_id) | Alarm.id.in_(meant_for))
                .order_by(Alarm.stored_at)
            )
            return await _load_records(session, list(rows))


async def _neighbours(session: AsyncSession, room_id: int | None) -> frozenset[int]:
    """The raiser's neighbour rooms by the site's rule (dispatch.topology)."""
    if room_id is None:
        return frozenset()
    room = await session.get(Room, room_id)
    site = await session.get(Site, room.site_id) if room else None
    if room is None or site is None:
        return frozenset()
    words = await session.execute(
        select(RoomNeighbour.neighbour_id, RoomNeighbour.kind).where(
            RoomNeighbour.room_id == room_id
        )
    )
    links: list[int] = []
    excludes: list[int] = []
    for other, kind in words:
        (excludes if kind == "exclude" else links).append(other)
    same_floor: list[topology.PlacedRoom] = []
    if site.neighbour_radius_m > 0 and room.x_m is not None:
        rows = await session.execute(
            select(Room.id, Room.floor_id, Room.x_m, Room.y_m).where(Room.floor_id == room.floor_id)
        )
        same_floor = [topology.PlacedRoom(*row) for row in rows]
    return topology.neighbours(
        topology.PlacedRoom(room.id, room.floor_id, room.x_m, room.y_m),
        same_floor,
        links,
        excludes,
        site.neighbour_radius_m,
    )


async def _candidates(
    session: AsyncSession, site_id: int, level: AlarmLevel, neighbours: frozenset[int]
) -> list[Placement]:
    """The workstations routing can pick from; below level 3 only neighbours and security."""
    query = select(Workstation.id, Workstation.room_id, Workstation.role).where(
        Workstation.site_id == site_id
    )
    if level is not AlarmLevel.DANGER:
        query = query.where(
            Workstation.room_id.in_(neighbours) | (Workstation.role == WorkstationRole.SECURITY)
        )
    rows = await session.execute(query)
    return [Placement(ws_id, room_id, WorkstationRole(role)) for ws_id, room_id, role in rows]


async def _load_one(session: AsyncSession, alarm_id: uuid.UUID) -> AlarmRecord:
    alarm = await session.get(Alarm, str(alarm_id))
    assert alarm is not None
    return (await _load_records(session, [alarm]))[0]


async def _load_records(session: AsyncSession, alarms: Sequence[Alarm]) -> list[AlarmRecord]:
    if not alarms:
        return []
    ids = [a.id for a in alarms]
    rooms = await room_refs(session, (a.room_id for a in alarms if a.room_id is not None))
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
        )
        for a in alarms
    ]
