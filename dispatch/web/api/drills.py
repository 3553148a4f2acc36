"""Drill scheduling and drill reports: when a site practises, who is in the circle, how fast."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, model_validator
from sqlalchemy import func, select

from dispatch.directory.rooms import room_refs
from dispatch.routing.policy import Scope
from dispatch.store.audit import AuditTrail
from dispatch.store.models import Alarm, AlarmRecipient, Drill, Room, Site, Workstation
from dispatch.web.api.deps import DB, ManagerReader, ManagerWriter, ScopeDep, actor, get_or_404
from dispatch.web.api.schemas import Input
from shared.domain import AlarmKind, AlarmLevel, AlarmState, Answer
from shared.protocol import RoomRef, utc_now

router = APIRouter(tags=["drills"])

MAX_DRILL = timedelta(hours=8)
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class DrillIn(Input):
    site_id: int
    title: Title
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    scopes: list[Scope] = Field(min_length=1, max_length=len(Scope))

    @model_validator(mode="after")
    def _sensible(self) -> DrillIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at - self.starts_at > MAX_DRILL:
            raise ValueError("a drill may last at most 8 hours")
        return self


class DrillOut(BaseModel):
    id: int
    site_id: int
    title: str
    starts_at: datetime
    ends_at: datetime
    scopes: list[Scope]
    created_by: str
    created_at: datetime
    status: str  # planned | running | ended, at the time of the answer
    alarms: int  # drill alarms raised in it so far


def _status(drill: Drill, now: datetime) -> str:
    if now < drill.starts_at:
        return "planned"
    return "running" if now < drill.ends_at else "ended"


def _out(drill: Drill, alarms: int, now: datetime) -> DrillOut:
    return DrillOut(
        id=drill.id,
        site_id=drill.site_id,
        title=drill.title,
        starts_at=drill.starts_at,
        ends_at=drill.ends_at,
        scopes=[Scope(s) for s in json.loads(drill.scopes)],
        created_by=drill.created_by,
        created_at=drill.created_at,
        status=_status(drill, now),
        alarms=alarms,
    )


@router.get("/drills", response_model=list[DrillOut], summary="Scheduled drills")
async def list_drills(
    _: ManagerReader,
    db: DB,
    scope: ScopeDep,
    site_id: Annotated[int | None, Query(description="Only this site")] = None,
) -> list[DrillOut]:
    """Every drill, latest start first, with its state now."""
    counts = (
        select(Alarm.drill_id, func.count().label("alarms"))
        .where(Alarm.drill_id.is_not(None))
        .group_by(Alarm.drill_id)
        .subquery()
    )
    query = (
        select(Drill, func.coalesce(counts.c.alarms, 0))
        .outerjoin(counts, counts.c.drill_id == Drill.id)
        .where(scope.where(Drill.site_id))
        .order_by(Drill.starts_at.desc(), Drill.id.desc())
    )
    if site_id is not None:
        query = query.where(Drill.site_id == site_id)
    now = utc_now()
    async with db.read() as session:
        return [_out(drill, alarms, now) for drill, alarms in await session.execute(query)]


@router.post("/drills", response_model=DrillOut, status_code=201, summary="Schedule a drill")
async def create_drill(body: DrillIn, operator: ManagerWriter, db: DB, scope: ScopeDep) -> DrillOut:
    """While it runs, the site's drill alarms ("ÜBUNG") go only to these scopes.

    Refused: a drill that has ended already (422), and one overlapping another
    drill of the same site (409), since a drill alarm must belong to one drill.
    """
    now = utc_now()
    if body.ends_at <= now:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "ends_at is in the past: the drill would be over"
        )
    scopes = sorted(set(body.scopes))
    async with db.write() as session:
        site = await session.get(Site, body.site_id)
        if site is None or not scope.covers(site.id):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"site_id {body.site_id}: no such site"
            )
        overlapping = await session.scalar(
            select(Drill)
            .where(
                Drill.site_id == body.site_id,
                Drill.starts_at < body.ends_at,
                Drill.ends_at > body.starts_at,
            )
            .limit(1)
        )
        if overlapping is not None:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"overlaps drill {overlapping.id} ({overlapping.title!r}, "
                f"{overlapping.starts_at.isoformat()} – {overlapping.ends_at.isoformat()})",
            )
        drill = Drill(
            site_id=body.site_id,
            title=body.title,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            scopes=json.dumps([s.value for s in scopes]),
            created_by=operator.display_name,
            created_at=now,
        )
        session.add(drill)
        await session.flush()
        (await AuditTrail.open(session)).append(
            actor(operator),
            "drill_created",
            at=now,
            drill_id=drill.id,
            site_id=drill.site_id,
            title=drill.title,
            starts_at=drill.starts_at.isoformat(),
            ends_at=drill.ends_at.isoformat(),
            scopes=[s.value for s in scopes],
        )
        return _out(drill, 0, now)


@router.delete("/drills/{drill_id}", status_code=204, summary="Delete a drill")
async def delete_drill(drill_id: int, operator: ManagerWriter, db: DB, scope: ScopeDep) -> None:
    """Only a planned drill, or an ended one without drill alarms (their report stays)."""
    now = utc_now()
    async with db.write() as session:
        drill = await get_or_404(session, Drill, drill_id, "drill", scope)
        if _status(drill, now) == "running":
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"drill {drill_id} is running until {drill.ends_at.isoformat()}: "
                "it cannot be deleted now",
            )
        alarms = await session.scalar(select(func.count()).where(Alarm.drill_id == drill_id))
        if alarms:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"drill {drill_id} has {alarms} drill alarm(s); it is kept for its report",
            )
        await session.delete(drill)
        (await AuditTrail.open(session)).append(
            actor(operator),
            "drill_deleted",
            at=now,
            drill_id=drill_id,
            site_id=drill.site_id,
            title=drill.title,
        )


# --- the drill report ----------------------------------------------------------


class RecipientTimes(BaseModel):
    """One recipient workstation of a drill alarm: milliseconds after the alarm was raised."""

    workstation_id: str
    room: str | None  # the workstation's room number
    delivered_after_ms: int | None  # popup on screen (the agent's receipt)
    answered_after_ms: int | None  # "Ich komme" / "Kann nicht" / "Bin da"
    answer: Answer | None
    arrived_after_ms: int | None


class DrillAlarm(BaseModel):
    alarm_id: uuid.UUID
    level: AlarmLevel
    state: AlarmState
    raised_at: datetime
    room: RoomRef | None
    recipients: list[RecipientTimes]


class DrillReport(BaseModel):
    drill: DrillOut
    alarms: list[DrillAlarm]


def _ms_after(start: datetime, end: datetime | None) -> int | None:
    """Milliseconds from raising; an agent clock ahead of the hub's counts as 0."""
    if end is None:
        return None
    return max(0, round((end - start).total_seconds() * 1000))


@router.get("/drills/{drill_id}/report", response_model=DrillReport, summary="Drill report")
async def drill_report(drill_id: int, _: ManagerReader, db: DB, scope: ScopeDep) -> DrillReport:
    """Per drill alarm and recipient workstation: time to delivery, answer and arrival.

    Workstations and rooms only: a drill tests the system and the circle, not people.
    """
    async with db.read() as session:
        drill = await get_or_404(session, Drill, drill_id, "drill", scope)
        alarms = list(
            await session.scalars(
                select(Alarm)
                .where(Alarm.drill_id == drill_id, Alarm.kind == AlarmKind.DRILL.value)
                .order_by(Alarm.raised_at, Alarm.id)
            )
        )
        ids = [alarm.id for alarm in alarms]
        recipients: dict[str, list[tuple[AlarmRecipient, str | None]]] = {i: [] for i in ids}
        if ids:
            rows = await session.execute(
                select(AlarmRecipient, Room.number)
                .join(Workstation, Workstation.id == AlarmRecipient.workstation_id)
                .outerjoin(Room, Room.id == Workstation.room_id)
                .where(AlarmRecipient.alarm_id.in_(ids))
                .order_by(AlarmRecipient.workstation_id)
            )
            for row, number in rows:
                recipients[row.alarm_id].append((row, number))
        rooms = await room_refs(session, (a.room_id for a in alarms if a.room_id is not None))
    return DrillReport(
        drill=_out(drill, len(alarms), utc_now()),
        alarms=[
            DrillAlarm(
                alarm_id=uuid.UUID(alarm.id),
                level=AlarmLevel(alarm.level),
                state=AlarmState(alarm.state),
                raised_at=alarm.raised_at,
                room=rooms.get(alarm.room_id) if alarm.room_id is not None else None,
                recipients=[
                    RecipientTimes(
                        workstation_id=row.workstation_id,
                        room=number,
                        delivered_after_ms=_ms_after(alarm.raised_at, row.received_at),
                        answered_after_ms=_ms_after(alarm.raised_at, row.answered_at),
                        answer=Answer(row.answer) if row.answer else None,
                        arrived_after_ms=_ms_after(alarm.raised_at, row.arrived_at),
                    )
                    for row, number in recipients[alarm.id]
                ],
            )
            for alarm in alarms
        ],
    )
