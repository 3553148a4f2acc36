"""Scheduled drills: which drill of a site is running at a given moment."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.routing.policy import Scope
from dispatch.store.models import Drill


async def active_drill(session: AsyncSession, site_id: int, now: datetime) -> Drill | None:
    """The drill of ``site_id`` running at ``now`` (start inclusive, end exclusive), else None.

    The drills API refuses overlapping drills on one site; should two overlap
    anyway (rows written by hand), the one that started last wins, so a fresh
    drill is never shadowed by an older one.
    """
    drill: Drill | None = await session.scalar(
        select(Drill)
        .where(Drill.site_id == site_id, Drill.starts_at <= now, Drill.ends_at > now)
        .order_by(Drill.starts_at.desc(), Drill.id.desc())
        .limit(1)
    )
    return drill


def drill_scopes(drill: Drill) -> frozenset[Scope]:
    """The circle the drill's alarms go to (stored as a JSON list of Scope values)."""
    return frozenset(Scope(value) for value in json.loads(drill.scopes))
