"""Reading alarms back: their records with recipients, rooms and reports, and what is still open."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, String, bindparam, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.alarms.lifecycle import FOLLOW_UP_STATES, OPEN_STATES
from dispatch.alarms.record import AlarmRecord, RecipientState, alarm_record
from dispatch.alarms.views import may_see_where
from dispatch.directory.identities import OperatorView
from dispatch.directory.rooms import room_refs
from dispatch.store.database import Database
from dispatch.store.models import (
    Alarm,
    AlarmRecipient,
    IncidentReport,
    Room,
    TopologyVersion,
    Workstation,
)
from shared.domain import AlarmKind, AlarmLevel, AlarmState, Answer, Instruction
from shared.protocol import IncidentReport as Report

_WORKSTATION_IDS = bindparam("workstation_ids", type_=String, expanding=True)
_OPEN_IDS_FOR = (
    select(Alarm.id)
    .where(Alarm.state.in_(OPEN_STATES))
    .where(
        Alarm.workstation_id.in_(_WORKSTATION_IDS)
        | Alarm.id.in_(
            select(AlarmRecipient.alarm_id).where(
                AlarmRecipient.workstation_id.in_(_WORKSTATION_IDS)
            )
        )
    )
)
"""The ids of open alarms the workstations raised or must be told about: read at every
handshake, so built once (its cache key is not derived again for each read)."""
_ALARMS_BY_ID = (
    select(Alarm)
    .where(Alarm.id.in_(bindparam("alarm_ids", type_=String, expanding=True)))
    .where(Alarm.state.in_(OPEN_STATES))  # still open: one may have closed since its id
    .order_by(Alarm.stored_at)
)
"""The open alarms of those ids, full: read at a handshake only when there are some."""
_STORED_AND_VERSION = select(
    exists().where(Alarm.id == bindparam("alarm_id", type_=String)).label("stored"),
    select(TopologyVersion.version)
    .where(TopologyVersion.id == 1)
    .scalar_subquery()
    .label("version"),
)
"""Whether an alarm id is stored, and the topology version: read before every alarm's
early popups (dispatch/live/hub.py), so built once."""
_STORED_AND_VERSION_SQLITE = (
    "SELECT EXISTS (SELECT 1 FROM alarms WHERE id = ?),"
    " (SELECT version FROM topology_version WHERE id = 1)"
)
"""The same on SQLite, as plain SQL for one trip to the driver's thread."""


async def get(db: Database, alarm_id: uuid.UUID) -> AlarmRecord | None:
    async with db.read() as session:
        alarm = await session.get(Alarm, str(alarm_id))
        return (await load_records(session, [alarm]))[0] if alarm else None


async def stored_and_version(db: Database, alarm_id: uuid.UUID) -> tuple[bool, int | None]:
    """Whether the alarm is stored (by anyone), and the store's topology version: one
    statement on a pooled connection, no session."""
    if db.is_sqlite:
        ((stored, version),) = await db.sqlite_rows(_STORED_AND_VERSION_SQLITE, (str(alarm_id),))
        return bool(stored), version
    (row,) = await db.rows(_STORED_AND_VERSION, {"alarm_id": str(alarm_id)})
    return bool(row.stored), row.version


async def open_alarms(db: Database) -> list[AlarmRecord]:
    """Every alarm the console lists: open ones and cancelled ones to follow up.

    Self-tests are never listed: they show on the coverage board instead.
    """
    async with db.read() as session:
        rows = await session.scalars(
            select(Alarm)
            .where(Alarm.state.in_(FOLLOW_UP_STATES), Alarm.kind != AlarmKind.SELF_TEST.value)
            .order_by(Alarm.stored_at)
        )
        return await load_records(session, list(rows))


def recently_resolved_query(since: datetime, limit: int, operator: OperatorView) -> Select[Alarm]:
    """Read by ``ix_alarms_state_resolved_at``: the window's rows only, already in order,
    and only those the operator may see (the alarm's site: its room's, else its PC's)."""
    site = func.coalesce(Room.site_id, Workstation.site_id)
    return (
        select(Alarm)
        .outerjoin(Room, Room.id == Alarm.room_id)
        .join(Workstation, Workstation.id == Alarm.workstation_id)
        .where(
            Alarm.state == AlarmState.RESOLVED.value,
            Alarm.resolved_at >= since,
            Alarm.kind != AlarmKind.SELF_TEST.value,
            may_see_where(operator, site, Alarm.level, Alarm.escalation_step),
        )
        .order_by(Alarm.resolved_at.desc())
        .limit(limit)
    )


async def recently_resolved(
    db: Database, since: datetime, limit: int, operator: OperatorView
) -> list[AlarmRecord]:
    """Alarms resolved at or after ``since`` that ``operator`` may see, newest first, at
    most ``limit`` (no self-tests)."""
    async with db.read() as session:
        rows = await session.scalars(recently_resolved_query(since, limit, operator))
        return await load_records(session, list(rows))


async def unconfirmed(db: Database) -> dict[uuid.UUID, set[str]]:
    """Recipients of open alarms whose popup has not been confirmed, by alarm."""
    async with db.read() as session:
        rows = await session.execute(
            select(AlarmRecipient.alarm_id, AlarmRecipient.workstation_id)
            .join(Alarm, Alarm.id == AlarmRecipient.alarm_id)
            .where(Alarm.state.in_(OPEN_STATES), AlarmRecipient.received_at.is_(None))
            .where(  # staff of an alarm withdrawn under duress were told it was withdrawn
                Alarm.cancelled_under_duress_at.is_(None)
                | (AlarmRecipient.instruction == Instruction.SECURE_AND_CALL_POLICE.value)
            )
        )
        missing: dict[uuid.UUID, set[str]] = {}
        for alarm_id, workstation_id in rows:
            missing.setdefault(uuid.UUID(alarm_id), set()).add(workstation_id)
        return missing


async def open_alarms_for_many(
    db: Database, workstation_ids: Sequence[str]
) -> dict[str, list[AlarmRecord]]:
    """Open alarms each workstation raised or must be told about, oldest first, in one read
    (agents reconnecting together).

    Most agents joining have no open alarm to be told about, so the ids come first, in
    one plain read without a session or ORM objects; only if there are any are the
    records read. A write may commit between the two reads; the result is then what
    one read a moment later would give: an alarm stored in between reaches the agent
    (already registered) by its fan-out, one closed in between is not replayed."""
    wanted = {"workstation_ids": list(set(workstation_ids))}
    alarm_ids = [row.id for row in await db.rows(_OPEN_IDS_FOR, wanted)]
    if not alarm_ids:
        return {ws: [] for ws in workstation_ids}
    async with db.read() as session:
        alarms = await session.scalars(_ALARMS_BY_ID, {"alarm_ids": alarm_ids})
        records = await load_records(session, list(alarms))
    return {
        ws: [r for r in records if r.workstation_id == ws or r.recipient(ws) is not None]
        for ws in workstation_ids
    }


async def load_record(session: AsyncSession, alarm_id: uuid.UUID) -> AlarmRecord:
    alarm = await session.get(Alarm, str(alarm_id))
    assert alarm is not None
    return (await load_records(session, [alarm]))[0]


async def load_records(session: AsyncSession, alarms: Sequence[Alarm]) -> list[AlarmRecord]:
    """The records of these rows, with a fixed number of reads however many there are."""
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
        alarm_record(
            a,
            room=rooms[a.room_id] if a.room_id is not None else None,
            floor_id=floors.get(a.room_id) if a.room_id is not None else None,
            # The site of the room it was stored with: the PC may have moved since.
            site_id=room_sites.get(a.room_id)
            if a.room_id is not None
            else sites.get(a.workstation_id),
            recipients=recipients[a.id],
            report=reports.get(a.id),
        )
        for a in alarms
    ]


def _report(row: IncidentReport) -> Report:
    return Report(
        assessed_level=AlarmLevel(row.assessed_level),
        police_called=row.police_called,
        injuries=row.injuries,
        property_damage=row.property_damage,
        house_ban=row.house_ban,
        notes=row.notes,
    )
