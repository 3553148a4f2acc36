"""Which PCs have not confirmed an alarm yet: the console's "zugestellt an X von Y" opened.

An alarm may go to thousands of PCs, so the list is capped (``UNCONFIRMED_SHOWN``)
and the rest is a count ("und N weitere"). Only an operator whose console shows
the alarm may read it (the same rule as the live list, dispatch/alarms/views.py); for
anyone else the alarm does not exist (404), so ids of other sites reveal nothing.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel
from sqlalchemy import func, select

from dispatch.alarms.views import may_see_alarm
from dispatch.store.models import Alarm, AlarmRecipient, Room, Workstation
from dispatch.web.api.deps import DB, Reader
from shared.domain import AlarmLevel

router = APIRouter(tags=["alarms"])

UNCONFIRMED_SHOWN = 50
"""At most this many PCs are listed; the console says how many more there are."""

AlarmId = Annotated[str, Path(max_length=64, description="The alarm's id (a UUID)")]


class UnconfirmedPC(BaseModel):
    workstation_id: str
    room: str | None  # room number; None for a PC without a room (security's desk, unplaced)
    room_name: str | None


class Unconfirmed(BaseModel):
    recipients: int
    unconfirmed: list[UnconfirmedPC]  # by room number, then workstation id
    more: int  # unconfirmed PCs beyond the list


@router.get(
    "/alarms/{alarm_id}/unconfirmed",
    response_model=Unconfirmed,
    summary="The PCs that have not confirmed an alarm",
)
async def unconfirmed(
    alarm_id: AlarmId,
    operator: Reader,
    db: DB,
    limit: Annotated[int, Query(ge=1, le=500, description="PCs listed at most")] = (
        UNCONFIRMED_SHOWN
    ),
) -> Unconfirmed:
    """Recipients whose popup has not been confirmed on screen (no receipt, no answer)."""
    try:
        key = str(uuid.UUID(alarm_id))
    except ValueError:
        key = alarm_id
    async with db.read() as session:
        found = (
            await session.execute(
                select(Alarm.level, Alarm.escalation_step, Workstation.site_id)
                .join(Workstation, Workstation.id == Alarm.workstation_id)
                .where(Alarm.id == key)
            )
        ).first()
        if found is None or not may_see_alarm(
            operator, found.site_id, AlarmLevel(found.level), found.escalation_step
        ):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alarm {alarm_id}")
        counts = (
            await session.execute(
                select(
                    func.count(),
                    func.count().filter(AlarmRecipient.received_at.is_(None)),
                ).where(AlarmRecipient.alarm_id == key)
            )
        ).one()
        rows = await session.execute(
            select(AlarmRecipient.workstation_id, Room.number, Room.name)
            .join(Workstation, Workstation.id == AlarmRecipient.workstation_id)
            .outerjoin(Room, Room.id == Workstation.room_id)
            .where(AlarmRecipient.alarm_id == key, AlarmRecipient.received_at.is_(None))
            .order_by(Room.number, AlarmRecipient.workstation_id)
            .limit(limit)
        )
        listed = [UnconfirmedPC(workstation_id=w, room=n, room_name=r) for w, n, r in rows]
    total, open_count = counts
    return Unconfirmed(recipients=total, unconfirmed=listed, more=open_count - len(listed))
