"""Writing an alarm's incident report: the row and its audit event, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.alarms.audit import audit_alarm
from dispatch.store.audit import AuditTrail
from dispatch.store.models import Alarm, IncidentReport
from shared.protocol import IncidentReport as Report

REPORT_FIELDS = tuple(Report.model_fields)


async def write_report(
    session: AsyncSession,
    audit: AuditTrail,
    alarm: Alarm,
    report: Report,
    *,
    actor: str,
    written_by: str,
    now: datetime,
) -> tuple[IncidentReport, list[str]]:
    """Writes or rewrites the report; returns the row and the fields that changed.

    The audit event records the flags and which fields changed, never the notes'
    text: the trail says that a report was written, the report says what happened.
    """
    values = report.model_dump()
    values["assessed_level"] = int(report.assessed_level)
    row = await session.get(IncidentReport, alarm.id)
    if row is None:
        row = IncidentReport(alarm_id=alarm.id, **values)
        session.add(row)
        changed = list(REPORT_FIELDS)
    else:
        changed = [name for name in REPORT_FIELDS if getattr(row, name) != values[name]]
        for name in REPORT_FIELDS:
            setattr(row, name, values[name])
    row.written_by, row.written_at = written_by, now
    audit_alarm(
        audit,
        actor,
        "incident_report_written",
        alarm,
        now,
        changed=changed,
        **{name: values[name] for name in REPORT_FIELDS if name != "notes"},
    )
    return row, changed
