"""Each alarm's deliveries per channel, as the console shows them beside "zugestellt an X von Y",
and its all-clears apart from them."""

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
    kind: str  # MessageKind: the alarm's message or its all-clear
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


@dataclass(frozen=True, slots=True)
class AlarmCounts:
    """One alarm's counts: who was sent the alarm, and who was sent its all-clear.

    Apart, so "E-Mail 1/1" does not become 2/2 once the alarm is over, and an all-clear that
    failed (someone told to lock the door still waiting for it) shows as that.
    """

    alarm: list[ChannelCount]
    all_clear: list[ChannelCount]


def counts_by_alarm(
    rows: Iterable[DeliveryRow], name_of: Callable[[str, str], str]
) -> dict[str, AlarmCounts]:
    """Pure: ``counts`` per alarm and kind (alarms without rows are left out)."""
    by_alarm: dict[str, tuple[list[DeliveryRow], list[DeliveryRow]]] = {}
    for row in rows:
        alarm, all_clear = by_alarm.setdefault(row.alarm_id, ([], []))
        (all_clear if row.kind == MessageKind.ALL_CLEAR.value else alarm).append(row)
    return {
        alarm_id: AlarmCounts(counts(alarm, name_of), counts(all_clear, name_of))
        for alarm_id, (alarm, all_clear) in by_alarm.items()
    }


async def delivery_rows(db: Database, alarm_ids: Collection[str]) -> list[DeliveryRow]:
    """The queue rows of these alarms, alarm messages and all-clears, oldest first."""
    if not alarm_ids:
        return []
    query = (
        select(
            ChannelDelivery.alarm_id,
            ChannelDelivery.kind,
            ChannelDelivery.channel,
            ChannelDelivery.address,
            ChannelDelivery.state,
            ChannelDelivery.last_error,
        )
        .where(ChannelDelivery.alarm_id.in_(alarm_ids))
        .order_by(ChannelDelivery.id)
    )
    async with db.read() as session:
        return [DeliveryRow(*row) for row in await session.execute(query)]
