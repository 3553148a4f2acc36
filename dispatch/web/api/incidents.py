"""Incidents: resolved real alarms with their reports, and writing a report after the fact."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel
from sqlalchemy import select

from dispatch.alarms.reports import REPORT_FIELDS, write_report
from dispatch.directory.rooms import room_refs
from dispatch.store.audit import AuditTrail
from dispatch.store.models import Alarm, Site, Workstation
from dispatch.store.models import IncidentReport as ReportRow
from dispatch.web.api.deps import (
    DB,
    ManagerReader,
    OperatorWriter,
    Reader,
    ScopeDep,
    actor,
    get_or_404,
)
from dispatch.web.api.statistics import FromDate, SiteFilter, ToDate, period_of
from shared.domain import AlarmKind, AlarmLevel, AlarmState
from shared.protocol import IncidentReport, RoomRef, utc_now

router = APIRouter(tags=["incidents"])

# Any text: an id that is no alarm's (malformed ones included) is simply not found (404).
AlarmId = Annotated[str, Path(max_length=64, description="The alarm's id (a UUID)")]

REPORTABLE = frozenset({AlarmState.RESOLVED.value, AlarmState.CANCELLED.value})


class ReportOut(IncidentReport):
    alarm_id: uuid.UUID
    written_by: str
    written_at: datetime


class IncidentOut(BaseModel):
    """One incident as the emergency manager reviews it; the raiser's name belongs here."""

    alarm_id: uuid.UUID
    level: AlarmLevel
    state: AlarmState
    site_id: int
    site: str
    room: RoomRef | None
    workstation_id: str
    raiser: str | None
    raised_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    arrived_at: datetime | None
    cancelled_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    report: ReportOut | None


def _key(alarm_id: str) -> str:
    """The stored form of an alarm id (lower-case UUID); anything else stays as given, unfound."""
    try:
        return str(uuid.UUID(alarm_id))
    except ValueError:
        return alarm_id


def _report_out(row: ReportRow) -> ReportOut:
    return ReportOut(
        alarm_id=uuid.UUID(row.alarm_id),
        written_by=row.written_by,
        written_at=row.written_at,
        **{name: getattr(row, name) for name in REPORT_FIELDS},
    )


@router.get("/incidents", response_model=list[IncidentOut], summary="Resolved real alarms")
async def list_incidents(
    _: ManagerReader,
    db: DB,
    scope: ScopeDep,
    first: FromDate = None,
    last: ToDate = None,
    site_id: SiteFilter = None,
) -> list[IncidentOut]:
    """Resolved real alarms raised in the period (drills and self-tests are no incidents).

    Oldest first, each with its report (``null`` while none is written).
    """
    start, end = period_of(first, last).bounds()
    async with db.read() as session:
        if site_id is not None:
            await get_or_404(session, Site, site_id, "site", scope)
        query = (
            select(Alarm, Workstation.site_id, Site.name, ReportRow)
            .join(Workstation, Workstation.id == Alarm.workstation_id)
            .join(Site, Site.id == Workstation.site_id)
            .outerjoin(ReportRow, ReportRow.alarm_id == Alarm.id)
            .where(
                Alarm.kind == AlarmKind.ALARM.value,
                Alarm.state == AlarmState.RESOLVED.value,
                Alarm.raised_at >= start,
                Alarm.raised_at < end,
                scope.where(Workstation.site_id),
            )
            .order_by(Alarm.raised_at, Alarm.id)
        )
        if site_id is not None:
            query = query.where(Workstation.site_id == site_id)
        rows = (await session.execute(query)).all()
        rooms = await room_refs(session, (a.room_id for a, *_ in rows if a.room_id is not None))
    return [
        IncidentOut(
            alarm_id=uuid.UUID(alarm.id),
            level=AlarmLevel(alarm.level),
            state=AlarmState(alarm.state),
            site_id=site,
            site=site_name,
            room=rooms.get(alarm.room_id) if alarm.room_id is not None else None,
            workstation_id=alarm.workstation_id,
            raiser=alarm.raiser_name,
            raised_at=alarm.raised_at,
            acknowledged_by=alarm.acknowledged_by,
            acknowledged_at=alarm.acknowledged_at,
            arrived_at=alarm.arrived_at,
            cancelled_at=alarm.cancelled_at,
            resolved_by=alarm.resolved_by,
            resolved_at=alarm.resolved_at,
            report=_report_out(report) if report is not None else None,
        )
        for alarm, site, site_name, report in rows
    ]


@router.get("/alarms/{alarm_id}/report", response_model=ReportOut, summary="An incident report")
async def get_report(alarm_id: AlarmId, _: Reader, db: DB, scope: ScopeDep) -> ReportOut:
    async with db.read() as session:
        await get_or_404(session, Alarm, _key(alarm_id), "alarm", scope)
        row = await session.get(ReportRow, _key(alarm_id))
        if row is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"alarm {alarm_id} has no incident report yet"
            )
        return _report_out(row)


@router.put("/alarms/{alarm_id}/report", response_model=ReportOut, summary="Write a report")
async def put_report(
    alarm_id: AlarmId, body: IncidentReport, operator: OperatorWriter, db: DB, scope: ScopeDep
) -> ReportOut:
    """Writes or replaces the report of a resolved or cancelled real alarm (any operator role).

    The report and its audit event are one transaction: neither is stored without the other.
    """
    now = utc_now()
    async with db.write() as session:
        alarm = await get_or_404(session, Alarm, _key(alarm_id), "alarm", scope)
        if alarm.kind != AlarmKind.ALARM.value:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"alarm {alarm_id} is a {alarm.kind}: only real alarms get an incident report",
            )
        if alarm.state not in REPORTABLE:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"alarm {alarm_id} is {alarm.state}: a report is written once it is resolved "
                "or cancelled",
            )
        row, _ = await write_report(
            session,
            await AuditTrail.open(session),
            alarm,
            body,
            actor=actor(operator),
            written_by=operator.display_name,
            now=now,
        )
        await session.flush()
        return _report_out(row)
