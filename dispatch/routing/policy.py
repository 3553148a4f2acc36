"""Alarm policy per site and level: who is alerted, how it escalates, how long it can be cancelled.

A site without a stored policy uses DEFAULTS, which follow the Aachener Modell
as the product brief describes it. What staff are told is not a setting: at
level 3 they are warned to stay away and never told the room.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.store.models import AlarmPolicy
from shared.domain import AlarmLevel, RaiserFeedback


class Scope(StrEnum):
    """A circle of workstations, from the raiser outwards."""

    NEIGHBOURS = "neighbours"  # staff in neighbour rooms (dispatch.directory.topology)
    FLOOR = "floor"  # staff on the raiser's floor
    BUILDING = "building"  # staff in the raiser's building
    SITE = "site"  # staff of the whole site
    SECURITY = "security"  # security workstations of the site
    ALL_SECURITY = "all_security"  # security workstations of every site on this hub


@dataclass(frozen=True, slots=True)
class EscalationStep:
    after_s: int  # seconds after the alarm was stored, if nobody has acknowledged it
    scope: Scope


@dataclass(frozen=True, slots=True)
class Policy:
    scopes: frozenset[Scope]
    escalation: tuple[EscalationStep, ...]
    cancel_window_s: int
    raiser_feedback: RaiserFeedback = RaiserFeedback.COUNT
    countdown_s: int = 0  # seconds the agent waits (and offers cancel) before sending
    # Seconds after storing until the raiser is told "nobody reached" when no recipient has
    # the popup on screen and no console showed the alarm (the product brief's default: 10).
    nobody_reached_s: int = 10


DEFAULTS: dict[AlarmLevel, Policy] = {
    AlarmLevel.SUPPORT: Policy(
        scopes=frozenset({Scope.NEIGHBOURS, Scope.SECURITY}),
        escalation=(EscalationStep(60, Scope.FLOOR), EscalationStep(120, Scope.BUILDING)),
        cancel_window_s=30,
    ),
    AlarmLevel.THREAT: Policy(
        scopes=frozenset({Scope.NEIGHBOURS, Scope.SECURITY}),
        escalation=(
            EscalationStep(45, Scope.FLOOR),
            EscalationStep(90, Scope.BUILDING),
            EscalationStep(120, Scope.ALL_SECURITY),
        ),
        cancel_window_s=30,
    ),
    AlarmLevel.DANGER: Policy(
        scopes=frozenset({Scope.SITE, Scope.SECURITY}),
        escalation=(EscalationStep(60, Scope.ALL_SECURITY),),
        cancel_window_s=15,
    ),
}


async def policy_for(session: AsyncSession, site_id: int, level: AlarmLevel) -> Policy:
    row = await session.scalar(
        select(AlarmPolicy).where(AlarmPolicy.site_id == site_id, AlarmPolicy.level == int(level))
    )
    return DEFAULTS[level] if row is None else _from_row(row)


async def policies_for_site(session: AsyncSession, site_id: int) -> dict[AlarmLevel, Policy]:
    """Every level's policy of a site in one query (saved, else the default)."""
    rows = await session.scalars(select(AlarmPolicy).where(AlarmPolicy.site_id == site_id))
    saved = {AlarmLevel(row.level): _from_row(row) for row in rows}
    return {level: saved.get(level, DEFAULTS[level]) for level in AlarmLevel}


async def saved_policies(session: AsyncSession) -> dict[tuple[int, AlarmLevel], Policy]:
    """Every stored policy of every site, by (site, level); a missing pair uses DEFAULTS."""
    rows = await session.scalars(select(AlarmPolicy))
    return {(row.site_id, AlarmLevel(row.level)): _from_row(row) for row in rows}


def _from_row(row: AlarmPolicy) -> Policy:
    steps = sorted(json.loads(row.escalation), key=lambda step: step["after_s"])
    return Policy(
        scopes=frozenset(Scope(scope) for scope in json.loads(row.scopes)),
        escalation=tuple(EscalationStep(int(s["after_s"]), Scope(s["scope"])) for s in steps),
        cancel_window_s=row.cancel_window_s,
        raiser_feedback=RaiserFeedback(row.raiser_feedback),
        countdown_s=row.countdown_s,
        nobody_reached_s=row.nobody_reached_s,
    )
