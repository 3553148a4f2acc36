"""Incident statistics as JSON and CSV, for emergency managers and admins (never per person)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response

from dispatch.alarms.statistics import (
    REPORT_ZONE,
    Bucket,
    Durations,
    Period,
    PeriodError,
    Statistics,
)
from dispatch.alarms.statistics import statistics as compute
from dispatch.directory.site_scope import SiteScope
from dispatch.store.models import Site
from dispatch.web.api.deps import DB, ManagerReader, ScopeDep, get_or_404

router = APIRouter(tags=["statistics"])

FromDate = Annotated[
    str | None,
    Query(alias="from", description="First day, YYYY-MM-DD (default: 1 January this year)"),
]
ToDate = Annotated[
    str | None, Query(alias="to", description="Last day, included, YYYY-MM-DD (default: today)")
]
SiteFilter = Annotated[int | None, Query(description="Only this site (default: all sites)")]


def parse_day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{name} must be a date written YYYY-MM-DD, got {value[:40]!r}",
        ) from None


def period_of(first: str | None, last: str | None) -> Period:
    """The period asked for; a bad date or from after to is a 422 that says which."""
    today = datetime.now(REPORT_ZONE).date()
    start = parse_day(first, "from") if first else date(today.year, 1, 1)
    end = parse_day(last, "to") if last else today
    try:
        return Period(start, end)
    except PeriodError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None


async def read_statistics(
    db: DB, period: Period, site_id: int | None, scope: SiteScope
) -> Statistics:
    """The figures of ``scope``'s sites; a site out of it is as unknown as a missing one."""
    async with db.read() as session:
        if site_id is not None:
            await get_or_404(session, Site, site_id, "site", scope)
        return await compute(session, period, site_id, scope)


@router.get("/statistics", response_model=Statistics, summary="Incident statistics")
async def get_statistics(
    _: ManagerReader,
    db: DB,
    scope: ScopeDep,
    first: FromDate = None,
    last: ToDate = None,
    site_id: SiteFilter = None,
) -> Statistics:
    """Real alarms only (no drills, no self-tests), by month, site, building, level and hour.

    Response times run from raising to the first acknowledgement (the earlier of
    an "Ich komme" and an operator's acknowledge) and to arrival; p50 and p90
    are nearest-rank. Nothing is grouped by person, workstation or room.
    """
    return await read_statistics(db, period_of(first, last), site_id, scope)


# --- CSV ---------------------------------------------------------------------

CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "de": (
        "Monat",
        "Alarme",
        "davon von der auslösenden Person zurückgenommen",
        "mit Vorfallbericht",
        "Stufe 1 ausgelöst",
        "Stufe 2 ausgelöst",
        "Stufe 3 ausgelöst",
        "Stufe 1 bewertet",
        "Stufe 2 bewertet",
        "Stufe 3 bewertet",
        "Polizei gerufen",
        "mit Verletzten",
        "mit Sachschaden",
        "Hausverbote",
        "bis Rückmeldung Median (s)",
        "bis Rückmeldung 90 % (s)",
        "bis Rückmeldung max. (s)",
        "bis Eintreffen Median (s)",
        "bis Eintreffen 90 % (s)",
        "bis Eintreffen max. (s)",
    ),
    "en": (
        "month",
        "alarms",
        "withdrawn by the person who raised it",
        "with incident report",
        "level 1 raised",
        "level 2 raised",
        "level 3 raised",
        "level 1 assessed",
        "level 2 assessed",
        "level 3 assessed",
        "police called",
        "with injuries",
        "with property damage",
        "house bans",
        "to acknowledge p50 (s)",
        "to acknowledge p90 (s)",
        "to acknowledge max (s)",
        "to arrival p50 (s)",
        "to arrival p90 (s)",
        "to arrival max (s)",
    ),
}
CSV_TOTAL = {"de": "Gesamt", "en": "total"}
# German spreadsheets read ';' between fields and a decimal comma; English ones ',' and '.'.
CSV_DIALECT = {"de": (";", ","), "en": (",", ".")}


def _seconds(value: float | None, decimal: str) -> str:
    return "" if value is None else f"{value:.1f}".replace(".", decimal)


def _times(durations: Durations, decimal: str) -> list[str]:
    return [
        _seconds(durations.p50_s, decimal),
        _seconds(durations.p90_s, decimal),
        _seconds(durations.max_s, decimal),
    ]


def _csv_row(label: str, bucket: Bucket, decimal: str) -> list[str]:
    counts = [
        bucket.alarms,
        bucket.cancelled_by_raiser,
        bucket.reported,
        *(bucket.raised_level.get(level, 0) for level in (1, 2, 3)),
        *(bucket.assessed_level.get(level, 0) for level in (1, 2, 3)),
        bucket.police_called,
        bucket.injuries,
        bucket.property_damage,
        bucket.house_bans,
    ]
    return [
        label,
        *(str(n) for n in counts),
        *_times(bucket.to_acknowledge, decimal),
        *_times(bucket.to_arrival, decimal),
    ]


def statistics_csv(result: Statistics, lang: str) -> str:
    """One row per month of the period and a total row, under a header row."""
    delimiter, decimal = CSV_DIALECT[lang]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS[lang])
    for bucket in result.per_month:
        writer.writerow(_csv_row(bucket.key, bucket, decimal))
    writer.writerow(_csv_row(CSV_TOTAL[lang], result.total, decimal))
    return out.getvalue()


@router.get(
    "/statistics.csv",
    summary="Incident statistics per month as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def get_statistics_csv(
    _: ManagerReader,
    db: DB,
    scope: ScopeDep,
    first: FromDate = None,
    last: ToDate = None,
    site_id: SiteFilter = None,
    lang: Annotated[Literal["de", "en"], Query(description="Column names")] = "de",
) -> Response:
    """Same figures and filters as /statistics, one row per month; German column names by default.

    Written as UTF-8 with a byte order mark so spreadsheet programs show umlauts.
    """
    period = period_of(first, last)
    result = await read_statistics(db, period, site_id, scope)
    name = f"statistik_{period.first}_{period.last}" + (f"_standort-{site_id}" if site_id else "")
    return Response(
        "\ufeff" + statistics_csv(result, lang),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}.csv"',
            "Cache-Control": "no-store",
        },
    )
