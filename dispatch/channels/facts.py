"""Reads what the messages of some alarms need: level, kind, site, room as stored, raiser."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.channels.content import AlarmFacts
from dispatch.directory.rooms import room_refs
from dispatch.store.models import Alarm, Room, Site, Workstation
from shared.domain import AlarmKind, AlarmLevel


async def alarm_facts(session: AsyncSession, alarm_ids: Collection[str]) -> dict[str, AlarmFacts]:
    """By alarm id; the room is the one stored with the alarm (where the person is)."""
    if not alarm_ids:
        return {}
    site_id = func.coalesce(Room.site_id, Workstation.site_id)
    rows = (
        await session.execute(
            select(Alarm, Site.name)
            .join(Workstation, Workstation.id == Alarm.workstation_id)
            .outerjoin(Room, Room.id == Alarm.room_id)
            .join(Site, Site.id == site_id)
            .where(Alarm.id.in_(alarm_ids))
        )
    ).all()
    rooms = await room_refs(session, {a.room_id for a, _ in rows if a.room_id is not None})
    return {
        alarm.id: AlarmFacts(
            alarm_id=uuid.UUID(alarm.id),
            level=AlarmLevel(alarm.level),
            drill=alarm.kind == AlarmKind.DRILL.value,
            site=site,
            room=rooms.get(alarm.room_id) if alarm.room_id is not None else None,
            workstation_id=alarm.workstation_id,
            raiser=alarm.raiser_name,
            stored_at=alarm.stored_at,
            withdrawn=alarm.cancelled_at is not None,
        )
        for alarm, site in rows
    }
