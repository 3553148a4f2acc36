"""Incident statistics for a period: counts and response times by site, building, level and time.

Only real alarms count (``kind = "alarm"``); drills and self-tests never do.
Nothing here groups by a person: not by raiser, responder, workstation,
operator or room, and no name leaves this module (staff council and data
protection rules; the raiser's name belongs to the incident alone). Months
and hours are those of the offices' clock, Europe/Berlin.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.directory.site_scope import SiteScope
from dispatch.store.models import (
    Alarm,
    AlarmRecipient,
    Building,
    Floor,
    IncidentReport,
    Room,
    Site,
    Workstation,
)
from shared.domain import AlarmKind, Answer

REPORT_ZONE = ZoneInfo("Europe/Berlin")
"""The offices' clock: a month or an hour of day is counted in local time."""
LEVELS = (1, 2, 3)
MAX_PERIOD_DAYS = 3700  # ten years and a bit: bounds the work and the size of the answer


class PeriodError(ValueError):
    """A period that cannot be reported on; the message says why."""


@dataclass(frozen=True, slots=True)
class Period:
    """Whole local days, both ends included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise PeriodError(f"from ({self.first}) is after to ({self.last})")
        if (self.last - self.first).days > MAX_PERIOD_DAYS:
            raise PeriodError(f"the period may span at most {MAX_PERIOD_DAYS} days")

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(date(year, 1, 1), date(year, 12, 31))

    def bounds(self) -> tuple[datetime, datetime]:
        """UTC start (inclusive) and end (exclusive) of the local days."""
        start = datetime.combine(self.first, time(), REPORT_ZONE)
        end = datetime.combine(self.last + timedelta(days=1), time(), REPORT_ZONE)
        return start.astimezone(UTC), end.astimezone(UTC)

    def months(self) -> list[str]:
        """Every month the period touches, as ``YYYY-MM``, in order."""
        months, year, month = [], self.first.year, self.first.month
        while (year, month) <= (self.last.year, self.last.month):
            months.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return months


class Durations(BaseModel):
    """Seconds from raising an alarm to an event, over the alarms where it happened."""

    model_config = ConfigDict(frozen=True)

    count: int  # alarms with this event; the others are not guessed
    p50_s: float | None
    p90_s: float | None
    max_s: float | None


class Bucket(BaseModel):
    """The figures of one group of alarms (a month, a site, a level, an hour…)."""

    model_config = ConfigDict(frozen=True)

    key: str
    label: str
    alarms: int
    cancelled_by_raiser: int
    reported: int  # alarms with an incident report
    police_called: int
    injuries: int
    property_damage: int
    house_bans: int
    raised_level: dict[int, int]  # level the raiser chose → alarms
    assessed_level: dict[int, int]  # level assessed in the incident report → alarms
    to_acknowledge: Durations  # first "Ich komme" or operator acknowledge, whichever came first
    to_arrival: Durations  # help at the room: a responder's or an operator's word


class Statistics(BaseModel):
    model_config = ConfigDict(frozen=True)

    period_from: date
    period_to: date
    site_id: int | None
    time_zone: str
    total: Bucket
    per_month: list[Bucket]
    per_site: list[Bucket]
    per_building: list[Bucket]
    per_level: list[Bucket]  # by the level raised
    per_hour: list[Bucket]  # hour of day, local time, 0-23


@dataclass(frozen=True, slots=True)
class _Incident:
    """One real alarm, reduced to what statistics may use: no names, no room, no device."""

    raised_at: datetime
    site_id: int
    site_name: str
    building: str | None
    level: int
    cancelled: bool
    assessed_level: int | None
    police_called: bool
    injuries: bool
    property_damage: bool
    house_ban: bool
    to_acknowledge_s: float | None
    to_arrival_s: float | None


@dataclass(slots=True)
class _Tally:
    alarms: int = 0
    cancelled: int = 0
    reported: int = 0
    police: int = 0
    injuries: int = 0
    damage: int = 0
    house_bans: int = 0
    levels: dict[int, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))
    assessed: dict[int, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))
    acknowledge: list[float] = field(default_factory=list)
    arrival: list[float] = field(default_factory=list)

    def add(self, incident: _Incident) -> None:
        self.alarms += 1
        self.cancelled += incident.cancelled
        self.levels[incident.level] = self.levels.get(incident.level, 0) + 1
        if incident.assessed_level is not None:
            self.reported += 1
            self.assessed[incident.assessed_level] = (
                self.assessed.get(incident.assessed_level, 0) + 1
            )
        self.police += incident.police_called
        self.injuries += incident.injuries
        self.damage += incident.property_damage
        self.house_bans += incident.house_ban
        if incident.to_acknowledge_s is not None:
            self.acknowledge.append(incident.to_acknowledge_s)
        if incident.to_arrival_s is not None:
            self.arrival.append(incident.to_arrival_s)

    def bucket(self, key: str, label: str) -> Bucket:
        return Bucket(
            key=key,
            label=label,
            alarms=self.alarms,
            cancelled_by_raiser=self.cancelled,
            reported=self.reported,
            police_called=self.police,
            injuries=self.injuries,
            property_damage=self.damage,
            house_bans=self.house_bans,
            raised_level=dict(self.levels),
            assessed_level=dict(self.assessed),
            to_acknowledge=durations(self.acknowledge),
            to_arrival=durations(self.arrival),
        )


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: always a time that really occurred."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def durations(values: Sequence[float]) -> Durations:
    if not values:
        return Durations(count=0, p50_s=None, p90_s=None, max_s=None)
    return Durations(
        count=len(values),
        p50_s=round(percentile(values, 0.5), 1),
        p90_s=round(percentile(values, 0.9), 1),
        max_s=round(max(values), 1),
    )


def seconds_between(start: datetime, end: datetime | None) -> float | None:
    """Seconds from start to end; an agent clock ahead of the hub's counts as 0, not negative."""
    if end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def _earliest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


async def _incidents(
    session: AsyncSession, period: Period, site_id: int | None, scope: SiteScope
) -> list[_Incident]:
    start, end = period.bounds()
    # Per alarm: the first "Ich komme" (an "arrived" answer implies one) and the first arrival.
    acknowledging = AlarmRecipient.answer.in_([Answer.COMING.value, Answer.ARRIVED.value])
    recipients = (
        select(
            AlarmRecipient.alarm_id.label("alarm_id"),
            func.min(case((acknowledging, AlarmRecipient.answered_at))).label("first_coming"),
            func.min(AlarmRecipient.arrived_at).label("first_arrived"),
            # An "arrived" answer without arrived_at: its answer time is the arrival.
            func.min(
                case(
                    (
                        (AlarmRecipient.answer == Answer.ARRIVED.value)
                        & AlarmRecipient.arrived_at.is_(None),
                        AlarmRecipient.answered_at,
                    )
                )
            ).label("first_arrived_answer"),
        )
        .group_by(AlarmRecipient.alarm_id)
        .subquery()
    )
    query = (
        select(
            Alarm.raised_at,
            Alarm.level,
            Alarm.cancelled_at,
            Alarm.acknowledged_at,
            Alarm.arrived_at,
            Workstation.site_id,
            Site.name,
            Building.name,
            IncidentReport,
            recipients.c.first_coming,
            recipients.c.first_arrived,
            recipients.c.first_arrived_answer,
        )
        # The raiser's workstation gives the site even when no room is assigned yet.
        .join(Workstation, Workstation.id == Alarm.workstation_id)
        .join(Site, Site.id == Workstation.site_id)
        .outerjoin(Room, Room.id == Alarm.room_id)
        .outerjoin(Floor, Floor.id == Room.floor_id)
        .outerjoin(Building, Building.id == Floor.building_id)
        .outerjoin(IncidentReport, IncidentReport.alarm_id == Alarm.id)
        .outerjoin(recipients, recipients.c.alarm_id == Alarm.id)
        .where(
            Alarm.kind == AlarmKind.ALARM.value,
            Alarm.raised_at >= start,
            Alarm.raised_at < end,
            scope.where(Workstation.site_id),
        )
    )
    if site_id is not None:
        query = query.where(Workstation.site_id == site_id)
    incidents = []
    for row in await session.execute(query):
        (raised, level, cancelled, acknowledged, arrived, site, site_name, building, report) = row[
            :9
        ]
        # min() over a CASE loses the column type on some backends: normalise to aware UTC.
        first_coming, first_arrived, first_arrived_answer = (_aware(v) for v in row[9:])
        incidents.append(
            _Incident(
                raised_at=raised,
                site_id=site,
                site_name=site_name,
                building=building,
                level=level,
                cancelled=cancelled is not None,
                assessed_level=report.assessed_level if report else None,
                police_called=bool(report and report.police_called),
                injuries=bool(report and report.injuries),
                property_damage=bool(report and report.property_damage),
                house_ban=bool(report and report.house_ban),
                to_acknowledge_s=seconds_between(raised, _earliest(first_coming, acknowledged)),
                to_arrival_s=seconds_between(
                    raised, _earliest(arrived, first_arrived, first_arrived_answer)
                ),
            )
        )
    return incidents


def _aware(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite hands back the stored text when the type is lost
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a time, got {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _group(
    incidents: Iterable[_Incident],
    key: Callable[[_Incident], Hashable],
    label: Callable[[_Incident], str],
    keys: Iterable[Hashable] = (),
    labels: Callable[[Hashable], str] = str,
) -> list[Bucket]:
    """One bucket per key, in the order of ``keys`` (shown even when empty) then first seen."""
    tallies: dict[Hashable, _Tally] = {k: _Tally() for k in keys}
    names: dict[Hashable, str] = {k: labels(k) for k in keys}
    for incident in incidents:
        k = key(incident)
        tallies.setdefault(k, _Tally()).add(incident)
        names.setdefault(k, label(incident))
    return [tally.bucket(str(k), names[k]) for k, tally in tallies.items()]


def local(moment: datetime) -> datetime:
    return moment.astimezone(REPORT_ZONE)


async def statistics(
    session: AsyncSession, period: Period, site_id: int | None, scope: SiteScope
) -> Statistics:
    """Every figure of the period (optionally one site) in one read, of ``scope``'s sites only."""
    incidents = await _incidents(session, period, site_id, scope)
    total = _Tally()
    for incident in incidents:
        total.add(incident)
    by_site = sorted(incidents, key=lambda i: (i.site_name, i.site_id))
    return Statistics(
        period_from=period.first,
        period_to=period.last,
        site_id=site_id,
        time_zone=REPORT_ZONE.key,
        total=total.bucket("total", "total"),
        per_month=_group(
            incidents,
            key=lambda i: local(i.raised_at).strftime("%Y-%m"),
            label=lambda i: local(i.raised_at).strftime("%Y-%m"),
            keys=period.months(),
        ),
        per_site=_group(by_site, key=lambda i: i.site_id, label=lambda i: i.site_name),
        per_building=_group(
            sorted(by_site, key=lambda i: (i.site_name, i.site_id, i.building or "")),
            key=lambda i: f"{i.site_id}:{i.building or ''}",
            label=lambda i: f"{i.site_name} – {i.building or '?'}",
        ),
        per_level=_group(
            incidents, key=lambda i: i.level, label=lambda i: str(i.level), keys=LEVELS
        ),
        per_hour=_group(
            incidents,
            key=lambda i: local(i.raised_at).hour,
            label=lambda i: f"{local(i.raised_at).hour:02d}",
            keys=range(24),
            labels=lambda h: f"{h:02d}",
        ),
    )


async def site_names(session: AsyncSession, scope: SiteScope) -> list[tuple[int, str]]:
    """The sites in scope, for the filter (a statistic is per site, never per person)."""
    rows = await session.execute(
        select(Site.id, Site.name).where(scope.where(Site.id)).order_by(Site.name, Site.id)
    )
    return [(site_id, name) for site_id, name in rows]
