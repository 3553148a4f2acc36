"""Whether a guard's console would show an alarm, read once for a batch of pushes.

A push goes only to an operator whose console would show the alarm (their sites, and
emergency managers only from level 2 or once escalated: `may_see_alarm`). What that
rule needs of an alarm is three columns, read here for every alarm of a round in one
statement; the whole record (five statements, the recipients' rows included) was read
once per alarm and round before.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.store.models import Alarm, Room, Workstation
from shared.domain import AlarmLevel


@dataclass(frozen=True, slots=True)
class AlarmScope:
    site_id: int | None  # the site of the room stored with it, else of the raiser's PC
    level: AlarmLevel
    escalation_step: int


async def alarm_scopes(
    session: AsyncSession, alarm_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, AlarmScope]:
    """By alarm id; an alarm not stored (here, yet) is left out."""
    if not alarm_ids:
        return {}
    # As the alarm's record has it (dispatch/alarms/reads.py): the room's site when a room
    # was stored with the alarm, the PC's otherwise; the PC may have moved since.
    site_id = case((Alarm.room_id.is_not(None), Room.site_id), else_=Workstation.site_id)
    rows = await session.execute(
        select(Alarm.id, site_id, Alarm.level, Alarm.escalation_step)
        .outerjoin(Workstation, Workstation.id == Alarm.workstation_id)
        .outerjoin(Room, Room.id == Alarm.room_id)
        .where(Alarm.id.in_([str(a) for a in alarm_ids]))
    )
    return {
        uuid.UUID(alarm_id): AlarmScope(site, AlarmLevel(level), step)
        for alarm_id, site, level, step in rows
    }
