"""Typed dependencies every endpoint uses: who is asking, may they, and is the write genuine.

* No operator session: 401. A session whose role may not do this: 403.
* Every state-changing request carries the session's CSRF token in the
  ``X-CSRF-Token`` header (compared in constant time): 403 otherwise.
* Every read and write of site-owned data takes the operator's ``Scope``
  (dispatch/directory/site_scope.py): a row of another site is a 404, lists
  hold only the operator's sites.
"""

from __future__ import annotations

import hmac
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.directory import sessions
from dispatch.directory.authentication import Authenticator
from dispatch.directory.identities import OperatorView
from dispatch.directory.refusals import Conflict, EnrolmentRefused, NotFound, OutOfScope, Refused
from dispatch.directory.site_scope import SiteScope, in_scope
from dispatch.live.hub import Hub
from dispatch.settings import Settings
from dispatch.store.database import Database
from shared.domain import OperatorRole

T = TypeVar("T")

CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_authenticator(request: Request) -> Authenticator:
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


DB = Annotated[Database, Depends(get_db)]
HubDep = Annotated[Hub, Depends(get_hub)]


async def current_operator(request: Request) -> OperatorView:
    """The logged-in operator (console session cookie), else 401: also for a session the
    operator's logout, a new password, a role/site change or disabling has ended.

    Read once per request: the role check and the site scope use the same answer."""
    known: OperatorView | None = getattr(request.state, "operator", None)
    if known is not None:
        return known
    settings: Settings = request.app.state.settings
    operator = await sessions.operator_of(
        request.session, get_authenticator(request), settings.session_max_age
    )
    if operator is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "not logged in: sign in at /login first",
            headers={"WWW-Authenticate": "Cookie"},
        )
    request.state.operator = operator
    return operator


async def site_scope(request: Request) -> SiteScope:
    """The sites the logged-in operator covers (none named: every site); 401 without a session."""
    return SiteScope.of(await current_operator(request))


def check_csrf(request: Request) -> None:
    """State-changing requests must echo the session's CSRF token in X-CSRF-Token."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get("csrf")
    submitted = request.headers.get(CSRF_HEADER, "")
    if (
        not isinstance(expected, str)
        or not expected
        or not submitted
        or not hmac.compare_digest(expected.encode("utf-8"), submitted.encode("utf-8"))
    ):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"CSRF check failed: send the session's token in the {CSRF_HEADER} header "
            "(GET /api/v1/session returns it)",
        )


async def reader(request: Request) -> OperatorView:
    """Any operator role may read."""
    return await current_operator(request)


async def admin_reader(request: Request) -> OperatorView:
    operator = await current_operator(request)
    _require(operator, {OperatorRole.ADMIN})
    return operator


async def admin_writer(request: Request) -> OperatorView:
    """Session first (401), then the CSRF token (403), then the role (403)."""
    operator = await current_operator(request)
    check_csrf(request)
    _require(operator, {OperatorRole.ADMIN})
    return operator


def _require(operator: OperatorView, roles: set[OperatorRole]) -> None:
    if operator.role not in roles:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"role {operator.role} may not do this (needs {' or '.join(sorted(roles))})",
        )


MANAGERS = {OperatorRole.EMERGENCY_MANAGER, OperatorRole.ADMIN}


async def manager_reader(request: Request) -> OperatorView:
    """Statistics, incidents and drills: emergency managers and admins; a guard gets 403."""
    operator = await current_operator(request)
    _require(operator, MANAGERS)
    return operator


async def manager_writer(request: Request) -> OperatorView:
    """Session (401), CSRF token (403), then the role (403), as every write checks them."""
    operator = await current_operator(request)
    check_csrf(request)
    _require(operator, MANAGERS)
    return operator


async def operator_writer(request: Request) -> OperatorView:
    """Any operator role with a valid CSRF token: guards write incident reports."""
    operator = await current_operator(request)
    check_csrf(request)
    return operator


Reader = Annotated[OperatorView, Depends(reader)]
AdminReader = Annotated[OperatorView, Depends(admin_reader)]
Admin = Annotated[OperatorView, Depends(admin_writer)]
ManagerReader = Annotated[OperatorView, Depends(manager_reader)]
ManagerWriter = Annotated[OperatorView, Depends(manager_writer)]
OperatorWriter = Annotated[OperatorView, Depends(operator_writer)]
ScopeDep = Annotated[SiteScope, Depends(site_scope)]


def actor(operator: OperatorView) -> str:
    return f"operator:{operator.username}"


@contextmanager
def refusals() -> Iterator[None]:
    """A service's refusal as the HTTP answer: 404 unknown (or of another site), 409
    conflict, 403 enrolment or out of the operator's sites, 422 else
    (dispatch/directory/refusals.py); the one place the API translates them."""
    try:
        yield
    except Refused as error:
        raise HTTPException(_STATUS.get(type(error), _INVALID), str(error)) from None


_STATUS = {
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    EnrolmentRefused: status.HTTP_403_FORBIDDEN,
    OutOfScope: status.HTTP_403_FORBIDDEN,
}
_INVALID = status.HTTP_422_UNPROCESSABLE_CONTENT


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class FailureLimiter:
    """Counts failures per key in a sliding window; memory stays bounded.

    In memory and per hub process: a limit on guessing, not an accounting system.
    """

    def __init__(self, limit: int, window_s: float, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def blocked(self, key: str) -> bool:
        times = self._recent(key, time.monotonic())
        return times is not None and len(times) >= self.limit

    def retry_after(self, key: str) -> int:
        now = time.monotonic()
        times = self._recent(key, now)
        if not times:
            return 0
        return max(1, int(times[0] + self.window_s - now) + 1)

    def fail(self, key: str) -> None:
        now = time.monotonic()
        times = self._recent(key, now)
        if times is None:
            if len(self._failures) >= self.max_keys:
                # Forget the key whose newest failure is oldest.
                oldest = min(self._failures, key=lambda k: self._failures[k][-1])
                del self._failures[oldest]
            times = self._failures[key] = deque()
        times.append(now)


def limiter(request: Request, name: str, limit: int, window_s: float) -> FailureLimiter:
    """One limiter per app and purpose, created on first use."""
    limiters: dict[str, FailureLimiter] | None = getattr(request.app.state, "limiters", None)
    if limiters is None:
        limiters = {}
        request.app.state.limiters = limiters
    found = limiters.get(name)
    if found is None:
        found = limiters[name] = FailureLimiter(limit, window_s)
    return found


async def get_or_404(
    session: AsyncSession, model: type[T], key: object, what: str, scope: SiteScope
) -> T:
    """The row, else 404: also a row of a site out of ``scope`` (its existence stays hidden)."""
    with refusals():
        return await in_scope(session, model, key, what, scope)


def unprocessable(message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, message)
