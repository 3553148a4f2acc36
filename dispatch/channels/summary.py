"""Each alarm's deliveries per channel, as the console shows them beside "zugestellt an X von Y"."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import select

from dispatch.channels.base import MessageKind
from dispatch.channels.retry import DeliveryState
from dispatch.store.database import Database
from dispatch.store.models import ChannelDelivery
from shared.protocol import ChannelCount


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    alarm_id: str
    channel: str
    address: str
    state: str
    last_error: str


def counts(rows: Iterable[DeliveryRow], name_of: Callable[[str, str], str]) -> list[ChannelCount]:
    """Pure: one count per channel (a webhook per endpoint), in order of first appearance.

    A dropped row (the alarm ended first) counts nowhere. ``reason`` is the last error of a
    row given up, else of one being retried.
    """
    groups: dict[tuple[str, str], list[DeliveryRow]] = {}
    for row in rows:
        if row.state != DeliveryState.DROPPED.value:
            groups.setdefault((row.channel, name_of(row.channel, row.address)), []).append(row)
    result = []
    for (channel, name), members in groups.items():
        given_up = [r for r in members if r.state == DeliveryState.GIVEN_UP.value]
        retrying = [r for r in members if r.state == DeliveryState.FAILED.value]
        failing = given_up or retrying
        result.append(
            ChannelCount(
                channel=channel,
                name=name,
                recipients=len(members),
                sent=sum(1 for r in members if r.state == DeliveryState.SENT.value),
                retrying=len(retrying),
                given_up=len(given_up),
                reason=(failing[-1].last_error or None) if failing else None,
            )
        )
    return result


async def delivery_rows(db: Database, alarm_ids: Collection[str]) -> list[DeliveryRow]:
    """The alarm messages' queue rows of these alarms, oldest first.

    All-clears are left out: "E-Mail 2/2" says who was sent the alarm, and counting the
    all-clears in would make it 4/4 once it is over (docs/channels.md, "The all-clear").
    """
    if not alarm_ids:
        return []
    query = (
        select(
            ChannelDelivery.alarm_id,
            ChannelDelivery.channel,
            ChannelDelivery.address,
            ChannelDelivery.state,
            ChannelDelivery.last_error,
        )
        .where(
            ChannelDelivery.alarm_id.in_(alarm_ids),
            ChannelDelivery.kind == MessageKind.ALARM.value,
        )
        .order_by(ChannelDelivery.id)
    )
    async with db.read() as session:
        return [DeliveryRow(*row) for row in await session.execute(query)]
