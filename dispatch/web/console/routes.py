"""The guards' web console: login, logout, the console page and its static files.

Sessions are Starlette's signed cookie (``silent_alarm_session``, SameSite
strict). It holds ``operator_id`` once logged in, ``csrf`` (a random token
every form carries in a hidden field) and ``lang``. The live alarm list is
not served here: the page talks to ``/ws/console`` (``dispatch.web.console_ws``).
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from dispatch import __version__
from dispatch.channels import push_subscriptions
from dispatch.directory import sessions
from dispatch.directory.authentication import Authenticator
from dispatch.directory.identities import OperatorView
from dispatch.directory.ldap_directory import DirectoryUnavailable
from dispatch.web.api.deps import client_ip, limiter
from dispatch.web.console import i18n

HERE = Path(__file__).resolve().parent
STATIC_PATH = "/console/static"

templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,  # a missing catalogue key fails loudly, never renders empty
    )
)

# Pages carry CSRF tokens and live alarm data: never cached, never framed.
# Scripts come only from the hub itself: no inline script and no eval. Alpine's CSP build
# (static/vendor/alpine-csp.min.js) parses its attribute expressions without Function().
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'; object-src 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

# Per client address: this many failed logins within the window answer 429 until it passes.
LOGIN_FAILURES_PER_CLIENT = 20
LOGIN_FAILURE_WINDOW_S = 300.0
TOO_MANY_LOGINS = {
    "de": "Zu viele fehlgeschlagene Anmeldungen von diesem Rechner. Bitte später erneut versuchen.",
    "en": "Too many failed sign-ins from this computer. Please try again later.",
}

router = APIRouter(include_in_schema=False)
router.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="console_static")


# --- session helpers ---------------------------------------------------------


def page_language(request: Request) -> str:
    """``?lang=`` switches and is remembered in the session; German otherwise."""
    asked = request.query_params.get("lang")
    if asked in i18n.LANGUAGES:
        request.session["lang"] = asked
    return i18n.language(request.session.get("lang"))


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = _new_csrf_token(request)
    return token


def _new_csrf_token(request: Request) -> str:
    token = secrets.token_urlsafe(32)
    request.session["csrf"] = token
    return token


def _csrf_valid(request: Request, submitted: str) -> bool:
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), submitted.encode("utf-8"))


async def session_operator(request: Request) -> OperatorView | None:
    authenticator: Authenticator = request.app.state.authenticator
    max_age: int = request.app.state.settings.session_max_age
    return await sessions.operator_of(request.session, authenticator, max_age)


def render_page(
    request: Request, name: str, lang: str, status_code: int = 200, **context: Any
) -> Response:
    return templates.TemplateResponse(
        request,
        name,
        {
            "t": i18n.messages(lang),
            "lang": lang,
            "static": STATIC_PATH,
            "version": __version__,
            **context,
        },
        status_code=status_code,
        headers=PAGE_HEADERS,
    )


def redirect_to(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _login_page(
    request: Request,
    lang: str,
    status_code: int = 200,
    error: str | None = None,
    username: str = "",
) -> Response:
    return render_page(
        request,
        "login.html",
        lang,
        status_code,
        csrf=csrf_token(request),
        error=error,
        username=username,
    )


# --- routes -----------------------------------------------------------------


@router.get("/")
async def index(request: Request) -> Response:
    return redirect_to("/console" if await session_operator(request) else "/login")


@router.get("/login")
async def login_form(request: Request) -> Response:
    lang = page_language(request)
    if await session_operator(request) is not None:
        return redirect_to("/console")
    return _login_page(request, lang)


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    lang = page_language(request)
    t = i18n.messages(lang)
    if not _csrf_valid(request, csrf):
        _new_csrf_token(request)
        return _login_page(request, lang, 403, t["csrf_failed"], username)
    client = client_ip(request)
    failures = limiter(request, "login", LOGIN_FAILURES_PER_CLIENT, LOGIN_FAILURE_WINDOW_S)
    if failures.blocked(client):
        page = _login_page(request, lang, 429, TOO_MANY_LOGINS[lang], username)
        page.headers["Retry-After"] = str(failures.retry_after(client))
        return page
    authenticator: Authenticator = request.app.state.authenticator
    try:
        operator = await authenticator.authenticate_operator(username, password, client=client)
    except DirectoryUnavailable:
        # Not the login's fault: no failure counted, and the message says what is wrong.
        return _login_page(request, lang, 503, t["login_directory_unavailable"], username)
    if operator is None:
        failures.fail(client)
        # One message for unknown user, wrong password, locked or disabled account alike.
        return _login_page(request, lang, 401, t["login_failed"], username)
    # A fresh session on login: nothing from before survives except the language.
    request.session.clear()
    request.session["lang"] = lang
    sessions.start(request.session, operator)
    _new_csrf_token(request)
    return redirect_to("/console")


@router.post("/logout")
async def logout(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    lang = page_language(request)
    if not _csrf_valid(request, csrf):
        return render_page(
            request,
            "error.html",
            lang,
            403,
            message=i18n.messages(lang)["csrf_failed"],
        )
    operator = await session_operator(request)
    if operator is not None:
        authenticator: Authenticator = request.app.state.authenticator
        await authenticator.log_out(operator)  # every copy of the cookie ends, not only this one
        # Pushes belong to the session: none of the operator's phones gets another alarm.
        await push_subscriptions.unsubscribe_all(request.app.state.db, operator)
    request.session.clear()
    request.session["lang"] = lang
    return redirect_to("/login")


@router.get("/console")
async def console(request: Request) -> Response:
    lang = page_language(request)
    operator = await session_operator(request)
    if operator is None:
        return redirect_to("/login")
    return render_page(
        request,
        "console.html",
        lang,
        operator=operator,
        csrf=csrf_token(request),
        config={
            "lang": lang,
            "loginUrl": "/login",
            "socketPath": "/ws/console",
            "csrf": csrf_token(request),  # the Web Push routes' writes (console-push.js)
            # Without a VAPID key the page does not ask for one: the browser would log the
            # 404 as an error on every console of a hub that has no Web Push.
            "push": request.app.state.webpush is not None,
        },
        catalogue=i18n.messages(lang),
    )
