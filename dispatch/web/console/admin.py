"""The admin pages under /admin: thin HTML shells whose Alpine components talk to /api/v1.

The pages hold no data of their own: each one renders a layout with the
operator's CSRF token and the message catalogue, and ``static/admin*.js``
reads and writes everything through the JSON API, which validates every form
and checks every role again. The role check here only decides who sees the
page at all: a guard gets a 403 page, never a half-working form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dispatch.web.api.schemas import Id
from dispatch.web.console import i18n

# The console's session helpers: both areas share one session and one page policy.
from dispatch.web.console.routes import (
    csrf_token,
    page_language,
    redirect_to,
    render_page,
    session_operator,
)
from shared.domain import OperatorRole

router = APIRouter(include_in_schema=False)

ADMINS = frozenset({OperatorRole.ADMIN})
# The drills API lets emergency managers schedule drills too; policies are written by admins only.
MANAGERS = frozenset({OperatorRole.ADMIN, OperatorRole.EMERGENCY_MANAGER})


@dataclass(frozen=True)
class AdminPage:
    """One page: its path, its template and script, its navigation label and who may open it."""

    key: str
    path: str
    script: str
    label: str  # catalogue key
    roles: frozenset[str] = ADMINS


PAGES = (
    AdminPage("sites", "/admin/sites", "admin-sites.js", "admin_nav_sites"),
    AdminPage("workstations", "/admin/workstations", "admin-workstations.js", "admin_nav_pcs"),
    AdminPage("operators", "/admin/operators", "admin-operators.js", "admin_nav_operators"),
    AdminPage("policies", "/admin/policies", "admin-policies.js", "admin_nav_policies"),
    AdminPage("drills", "/admin/drills", "admin-drills.js", "admin_nav_drills", MANAGERS),
)
BY_KEY = {page.key: page for page in PAGES}
FLOOR_PAGE = AdminPage("floor", "/admin/floors", "admin-floor.js", "admin_nav_sites")


async def _page(request: Request, page: AdminPage, **config: Any) -> Response:
    lang = page_language(request)
    operator = await session_operator(request)
    if operator is None:
        return redirect_to("/login")
    t = i18n.messages(lang)
    if operator.role not in page.roles:
        # The API refuses these writes too (403); this page says so in words.
        return render_page(request, "error.html", lang, 403, message=t["admin_forbidden"])
    nav = [
        {"key": p.key, "path": p.path, "label": t[p.label]}
        for p in PAGES
        if operator.role in p.roles
    ]
    return render_page(
        request,
        "admin.html",
        lang,
        operator=operator,
        csrf=csrf_token(request),
        page=page,
        nav=nav,
        body_template=f"admin_{page.key}.html",
        config={
            "lang": lang,
            "csrf": csrf_token(request),
            "api": "/api/v1",
            "role": operator.role,
            "operatorId": operator.id,
            **config,
        },
        catalogue=t,
    )


def may_enter(role: str) -> bool:
    """Whether the console header shows the admin link: some admin page is open to ``role``."""
    return any(role in page.roles for page in PAGES)


@router.get("/admin")
async def admin_home(request: Request) -> Response:
    """The first page the operator may open; a guard gets the 403 page."""
    operator = await session_operator(request)
    if operator is None:
        return redirect_to("/login")
    for page in PAGES:
        if operator.role in page.roles:
            return redirect_to(page.path)
    return await _page(request, BY_KEY["sites"])


@router.get("/admin/sites")
async def sites_page(request: Request) -> Response:
    return await _page(request, BY_KEY["sites"])


@router.get("/admin/floors/{floor_id}")
async def floor_page(request: Request, floor_id: Id) -> Response:
    return await _page(request, FLOOR_PAGE, floorId=floor_id)


@router.get("/admin/workstations")
async def workstations_page(request: Request) -> Response:
    # "Räume aus dem Verzeichnis" is offered only where the sync can work: without a
    # directory the API answers 409, and a button that can only fail helps nobody.
    directory = request.app.state.directory is not None
    return await _page(request, BY_KEY["workstations"], directory=directory)


@router.get("/admin/operators")
async def operators_page(request: Request) -> Response:
    return await _page(request, BY_KEY["operators"])


@router.get("/admin/policies")
async def policies_page(request: Request) -> Response:
    return await _page(request, BY_KEY["policies"])


@router.get("/admin/drills")
async def drills_page(request: Request) -> Response:
    return await _page(request, BY_KEY["drills"])
