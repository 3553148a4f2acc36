"""Operator sessions the server can end: a signed cookie is only as good as the store says.

The cookie (Starlette's SessionMiddleware, signed) carries the operator's id,
the session epoch read at login and the login time. The operator row's
``session_epoch`` goes up (``end_operator_sessions``) on logout, a new
password, a role or site change and on disabling: every copy of an older
cookie is then refused at once, by every hub instance, because each request
compares it with the store. The login time bounds the session absolutely: the
middleware re-signs the cookie on every response, so its own max-age would
slide forever with use.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.directory.identities import OperatorView
from dispatch.store.models import Operator


class Operators(Protocol):
    """Where a request's operator is looked up (dispatch.directory.authentication.Authenticator)."""

    async def operator(self, operator_id: int) -> OperatorView | None: ...


_OPERATOR = "operator_id"
_EPOCH = "epoch"
_SINCE = "logged_in_at"


def start(session: MutableMapping[str, Any], operator: OperatorView) -> None:
    """Writes a fresh login into the (already cleared) session."""
    session[_OPERATOR] = operator.id
    session[_EPOCH] = operator.session_epoch
    session[_SINCE] = int(time.time())


def remaining(session: MutableMapping[str, Any], max_age: int) -> float:
    """Seconds this session has left of its absolute lifetime (≤ 0: over)."""
    since = session.get(_SINCE)
    if not isinstance(since, int):
        return 0.0
    return since + max_age - time.time()


async def operator_of(
    session: MutableMapping[str, Any], operators: Operators, max_age: int
) -> OperatorView | None:
    """The operator this session belongs to, or None: logged out, ended, expired or gone."""
    operator_id = session.get(_OPERATOR)
    if not isinstance(operator_id, int) or remaining(session, max_age) <= 0:
        return None
    operator = await operators.operator(operator_id)
    if operator is None or session.get(_EPOCH) != operator.session_epoch:
        session.pop(_OPERATOR, None)  # worthless from now on: the next request is anonymous
        return None
    return operator


def still_valid(current: OperatorView | None, at_login: OperatorView) -> bool:
    """For an open console: the operator still exists and no change ended the session."""
    return current is not None and current.session_epoch == at_login.session_epoch


async def end_operator_sessions(session: AsyncSession, operator_id: int) -> None:
    """Every session cookie of the operator is refused from this commit on, everywhere
    (``operator_of`` compares the cookie's epoch with this one on every request)."""
    await session.execute(
        update(Operator)
        .where(Operator.id == operator_id)
        .values(session_epoch=Operator.session_epoch + 1, session_started_at=None)
    )
