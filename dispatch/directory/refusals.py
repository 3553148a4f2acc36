"""Why a write was refused: the few typed errors every service raises, each with its message.

The admin API answers them as 404/409/422 (``dispatch.web.api.deps.refusals``), the CLI
as one line on stderr and exit code 2.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


class Refused(ValueError):
    """A write that would leave the store inconsistent; nothing was written."""


class NotFound(Refused):
    """The thing addressed does not exist."""


class Conflict(Refused):
    """The change collides with what exists (a duplicate, or something still in use)."""


class Invalid(Refused):
    """The request names something that cannot be used here (a floor of another site, …)."""


class OutOfScope(Refused):
    """The operator's sites do not allow this at all (an admin limited to sites making a new
    site); a row of another site is ``NotFound`` instead, so its existence stays hidden."""


class EnrolmentRefused(Refused):
    """Unknown, used or expired enrolment code."""


async def existing(session: AsyncSession, model: type[T], key: object, what: str) -> T:
    """The row with this primary key, or NotFound("no {what} {key}")."""
    row = await session.get(model, key)
    if row is None:
        raise NotFound(f"no {what} {key}")
    return row
