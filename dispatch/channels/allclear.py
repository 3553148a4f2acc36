"""The all-clear over the channels: who is owed one now, and the queue rows that carry it.

A member of staff told by SMS to lock the door and wait for the all-clear must get it,
and a guard paged to a room must learn it is over. So when an alarm ends for a
recipient, every recipient whose alarm message was *sent* (a row of kind "alarm" in
state sent; one still in flight is looked at again once its outcome is written) gets
one all-clear on the same channel. It is a queue row of its own kind with its own
idempotency key, claimed, sent, retried and taken up after a crash like the alarm's
rows: a hub killed between the end and the send sends it after its restart, once. A
message never sent (dropped, still waiting, given up) is followed by none.

An alarm ends for a recipient when it is no longer open (resolved, or withdrawn by its
raiser) and, for staff alone, when it was withdrawn under duress: their screens showed a
normal withdrawal, so their channels do too, while security goes on at level 3 and is
sent its all-clear when the alarm is resolved. Planning (dispatch/channels/planning.py)
reads and writes these in its own read and write; an alarm row is closed (``closed_at``)
in the transaction that makes its all-clear, and the read asks the database for the rows
owed now only, so it stays small whatever the table's history and however many alarms
are open.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.alarms.lifecycle import OPEN_STATES
from dispatch.channels.base import Audience, MessageKind
from dispatch.channels.retry import DeliveryState
from dispatch.store.models import Alarm, ChannelDelivery

KEY_NAMESPACE = uuid.UUID("5d0f7c2e-1f4b-4c8e-a3f9-6b2d8e7a4c11")


def all_clear_key(alarm_id: str, recipient_id: int) -> str:
    """The all-clear's own key: never the alarm message's, so a receiver that deduplicates
    by key (a gateway, a mail archive) does not take it for a re-send of the alarm."""
    return str(uuid.uuid5(KEY_NAMESPACE, f"{alarm_id}/{recipient_id}/all-clear"))


@dataclass(frozen=True, slots=True)
class SentAlarmRow:
    """A sent alarm message not closed yet whose alarm is over for its recipient."""

    id: int
    alarm_id: str
    recipient_id: int
    channel: str
    address: str
    label: str
    audience: str
    language: str
    after_s: int
    level: int


def over_for_recipient() -> ColumnElement[bool]:
    """SQL, on a queue row joined with its alarm: the alarm is over for the row's recipient.

    Resolved or withdrawn; for staff alone also withdrawn under duress (their screens showed
    a normal withdrawal) while security goes on. An alarm row's all-clear is owed then
    (``owed``), and a row still waiting is dropped (planning.py's ``_stale``).
    """
    return or_(
        Alarm.state.not_in(OPEN_STATES),
        and_(
            Alarm.cancelled_under_duress_at.is_not(None),
            ChannelDelivery.audience == Audience.STAFF.value,
        ),
    )


async def owed(session: AsyncSession) -> list[SentAlarmRow]:
    """The sent alarm rows whose recipient is owed the all-clear now."""
    rows = await session.execute(
        select(
            ChannelDelivery.id,
            ChannelDelivery.alarm_id,
            ChannelDelivery.recipient_id,
            ChannelDelivery.channel,
            ChannelDelivery.address,
            ChannelDelivery.label,
            ChannelDelivery.audience,
            ChannelDelivery.language,
            ChannelDelivery.after_s,
            ChannelDelivery.level,
        )
        .join(Alarm, Alarm.id == ChannelDelivery.alarm_id)
        .where(
            ChannelDelivery.state == DeliveryState.SENT.value,
            ChannelDelivery.closed_at.is_(None),
            ChannelDelivery.kind == MessageKind.ALARM.value,
            # In SQL: a burst's open alarms hold thousands of sent rows, and reading them
            # every round to keep none cost the hub ~4 % of its CPU.
            over_for_recipient(),
        )
    )
    return [
        SentAlarmRow(
            id=r[0],
            alarm_id=r[1],
            recipient_id=r[2],
            channel=r[3],
            address=r[4],
            label=r[5],
            audience=r[6],
            language=r[7],
            after_s=r[8],
            level=r[9],
        )
        for r in rows
    ]


def row(sent: SentAlarmRow, now: datetime) -> dict[str, object]:
    """The all-clear's queue row: the recipient as the alarm's row copied it, due now."""
    return {
        "idempotency_key": all_clear_key(sent.alarm_id, sent.recipient_id),
        "alarm_id": sent.alarm_id,
        "recipient_id": sent.recipient_id,
        "channel": sent.channel,
        "address": sent.address,
        "label": sent.label,
        "audience": sent.audience,
        "language": sent.language,
        "after_s": sent.after_s,
        "state": DeliveryState.DUE.value,
        "attempts": 0,
        "due_at": now,
        "claimed_at": None,
        "sent_at": None,
        "last_error": "",
        "reference": "",
        "created_at": now,
        "kind": MessageKind.ALL_CLEAR.value,
        "level": sent.level,
        "closed_at": now,
    }


async def close(session: AsyncSession, sent: list[SentAlarmRow], now: datetime) -> None:
    """Marks the alarm rows whose all-clear was just written (same transaction)."""
    await session.execute(
        update(ChannelDelivery)
        .where(ChannelDelivery.id.in_([s.id for s in sent]), ChannelDelivery.closed_at.is_(None))
        .values(closed_at=now)
    )
