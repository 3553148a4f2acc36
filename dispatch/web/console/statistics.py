"""The statistics page and the printable yearly report, for emergency managers and admins.

Both pages are rendered on the server from ``dispatch.alarms.statistics`` (tables
that work without JavaScript and print as they are); ``statistics.js`` draws
the charts with the vendored Chart.js from the same figures, embedded as JSON.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dispatch.alarms.statistics import (
    REPORT_ZONE,
    Bucket,
    Period,
    PeriodError,
    Statistics,
    site_names,
)
from dispatch.alarms.statistics import statistics as compute
from dispatch.directory.identities import OperatorView
from dispatch.directory.site_scope import SiteScope
from dispatch.store.database import Database
from dispatch.web.console import i18n

# The console's session helpers: one session, one page policy (CSP, no-store) for all pages.
from dispatch.web.console.routes import (
    csrf_token,
    page_language,
    redirect_to,
    render_page,
    session_operator,
)
from shared.domain import OperatorRole

router = APIRouter(include_in_schema=False)

MANAGERS = frozenset({OperatorRole.EMERGENCY_MANAGER, OperatorRole.ADMIN})
FIRST_YEAR = 2000


class BadFilter(ValueError):
    """A filter value the page cannot use; the message is already in the page's language."""


def _today() -> date:
    return datetime.now(REPORT_ZONE).date()


def _day(value: str | None, default: date, t: dict[str, str], field: str) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadFilter(t["stats_bad_date"].format(field=t[field], value=value[:40])) from None


def _site(value: str | None, sites: list[tuple[int, str]], t: dict[str, str]) -> int | None:
    if not value:
        return None
    if not value.isdigit() or int(value) not in {site_id for site_id, _ in sites}:
        raise BadFilter(t["stats_bad_site"].format(value=value[:40]))
    return int(value)


def seconds_text(value: float | None, lang: str) -> str:
    """ "12,5 s" in German, "12.5 s" in English; a dash where nothing was measured."""
    if value is None:
        return "–"
    text = f"{value:.1f}"
    return (text.replace(".", ",") if lang == "de" else text) + " s"


def chart_data(result: Statistics, t: dict[str, str]) -> dict[str, Any]:
    """What statistics.js draws: labels and series only, never a name."""

    def levels(buckets: list[Bucket]) -> list[dict[str, Any]]:
        return [
            {
                "label": t[f"level_{level}"],
                "level": level,
                "data": [b.raised_level[level] for b in buckets],
            }
            for level in (1, 2, 3)
        ]

    return {
        "months": {
            "labels": [b.label for b in result.per_month],
            "series": levels(result.per_month),
        },
        "hours": {
            "labels": [b.label for b in result.per_hour],
            "series": [{"label": t["stats_alarms"], "data": [b.alarms for b in result.per_hour]}],
        },
        "levels": {
            "labels": [t[f"level_{b.key}"] for b in result.per_level],
            "series": [
                {"label": t["stats_raised"], "data": [b.alarms for b in result.per_level]},
                {
                    "label": t["stats_assessed"],
                    "data": [result.total.assessed_level[int(b.key)] for b in result.per_level],
                },
            ],
        },
    }


async def _gate(request: Request, lang: str) -> OperatorView | Response:
    """The operator, or the answer for one who may not see statistics (login, 403 page)."""
    operator = await session_operator(request)
    if operator is None:
        return redirect_to("/login")
    if operator.role not in MANAGERS:
        return render_page(
            request, "error.html", lang, 403, message=i18n.messages(lang)["stats_forbidden"]
        )
    return operator


def _page_context(request: Request, lang: str) -> dict[str, Any]:
    """What every statistics page needs besides the figures: CSRF for logout, the other language."""
    other = i18n.messages(lang)["switch_language_code"]
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    return {
        "csrf": csrf_token(request),
        "lang_url": f"{request.url.path}?{urlencode({**query, 'lang': other})}",
    }


async def _sites(request: Request, scope: SiteScope) -> list[tuple[int, str]]:
    db: Database = request.app.state.db
    async with db.read() as session:
        return await site_names(session, scope)


async def _figures(
    request: Request, period: Period, site_id: int | None, scope: SiteScope
) -> Statistics:
    db: Database = request.app.state.db
    async with db.read() as session:
        return await compute(session, period, site_id, scope)


def _context(
    request: Request, lang: str, result: Statistics, sites: list[tuple[int, str]]
) -> dict[str, Any]:
    t = i18n.messages(lang)
    query = {"from": result.period_from.isoformat(), "to": result.period_to.isoformat()}
    if result.site_id is not None:
        query["site_id"] = str(result.site_id)
    site_name = dict(sites).get(result.site_id, "") if result.site_id is not None else ""
    return {
        "result": result,
        "sites": sites,
        "site_name": site_name or t["stats_all_sites"],
        "secs": lambda value: seconds_text(value, lang),
        "charts": chart_data(result, t),
        "csv_url": "/api/v1/statistics.csv?" + urlencode({**query, "lang": lang}),
        "json_url": "/api/v1/statistics?" + urlencode(query),
        "yearly_url": "/console/reports/yearly?"
        + urlencode(
            {"year": result.period_to.year}
            | ({"site_id": result.site_id} if result.site_id is not None else {})
        ),
    }


@router.get("/console/statistics")
async def statistics_page(request: Request) -> Response:
    """Filters by period (default: this year so far) and site; tables, charts, CSV link."""
    lang = page_language(request)
    operator = await _gate(request, lang)
    if isinstance(operator, Response):
        return operator
    t = i18n.messages(lang)
    params = request.query_params
    today = _today()
    first, last = params.get("from", ""), params.get("to", "")
    site_value = params.get("site_id", "")
    scope = SiteScope.of(operator)
    sites = await _sites(request, scope)
    try:
        period = Period(
            _day(first, date(today.year, 1, 1), t, "stats_from"),
            _day(last, today, t, "stats_to"),
        )
        site_id = _site(site_value, sites, t)
    except (BadFilter, PeriodError) as error:
        message = str(error) if isinstance(error, BadFilter) else t["stats_bad_period"]
        return render_page(
            request,
            "statistics.html",
            lang,
            422,
            operator=operator,
            error=message,
            form={"from": first, "to": last, "site_id": site_value},
            sites=sites,
            **_page_context(request, lang),
        )
    result = await _figures(request, period, site_id, scope)
    return render_page(
        request,
        "statistics.html",
        lang,
        operator=operator,
        error=None,
        form={
            "from": period.first.isoformat(),
            "to": period.last.isoformat(),
            "site_id": str(site_id or ""),
        },
        **_context(request, lang, result, sites),
        **_page_context(request, lang),
    )


@router.get("/console/reports/yearly")
async def yearly_report(request: Request) -> Response:
    """One calendar year, one page per topic when printed; the browser's print makes the PDF."""
    lang = page_language(request)
    operator = await _gate(request, lang)
    if isinstance(operator, Response):
        return operator
    t = i18n.messages(lang)
    today = _today()
    year_value = request.query_params.get("year", "") or str(today.year)
    scope = SiteScope.of(operator)
    sites = await _sites(request, scope)
    try:
        if not year_value.isdigit() or not FIRST_YEAR <= int(year_value) <= today.year:
            raise BadFilter(
                t["stats_bad_year"].format(value=year_value[:40], first=FIRST_YEAR, last=today.year)
            )
        site_id = _site(request.query_params.get("site_id", ""), sites, t)
    except BadFilter as error:
        return render_page(request, "error.html", lang, 422, message=str(error))
    result = await _figures(request, Period.year(int(year_value)), site_id, scope)
    return render_page(
        request,
        "report_yearly.html",
        lang,
        operator=operator,
        year=int(year_value),
        generated=datetime.now(REPORT_ZONE).strftime("%d.%m.%Y %H:%M"),
        **_context(request, lang, result, sites),
        **_page_context(request, lang),
    )
