"""Which queue rows an alarm needs now: its site's channel recipients for its level, by step.

A recipient is told of alarms stored after it was added (as a saved policy applies to
alarms raised from then on). One with ``after_s`` 0 gets a row once the alarm is
stored (after its commit, never inside it); one with ``after_s`` N gets a row N
seconds after storing, if by then nobody has acknowledged the alarm (an operator took
it, or someone answered "Ich komme"). Rows are made at most once per (alarm,
recipient): a unique key, so two hub instances planning at once insert one. Rows still
waiting when the alarm ends (resolved, withdrawn) are dropped; an alarm withdrawn under
duress keeps only security's and the manager's: staff were told it was withdrawn. The
same round makes the all-clears owed to those whose message was sent
(dispatch/channels/allclear.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.alarms.lifecycle import OPEN_STATES
from dispatch.channels import allclear
from dispatch.channels.base import Audience, MessageKind
from dispatch.channels.retry import WAITING, DeliveryState
from dispatch.store.database import Database
from dispatch.store.models import (
    Alarm,
    AlarmRecipient,
    ChannelDelivery,
    ChannelRecipient,
    Room,
    Workstation,
)
from shared.domain import AlarmKind, AlarmState, Answer

HORIZON = timedelta(hours=1)
"""Alarms stored longer ago than their latest step plus this are not planned any more: a hub
that was down for longer sends no stale escalation steps (docs/channels.md)."""

KEY_NAMESPACE = uuid.UUID("0c6b1b52-8d4f-4b8e-9d55-3f1e1c0f2a20")


def idempotency_key(alarm_id: str, recipient_id: int) -> str:
    """The same for every attempt of one alarm to one recipient, on every hub instance."""
    return str(uuid.uuid5(KEY_NAMESPACE, f"{alarm_id}/{recipient_id}"))


@dataclass(frozen=True, slots=True)
class OpenAlarm:
    id: str
    site_id: int
    level: int
    state: str
    stored_at: datetime
    someone_coming: bool  # a recipient answered "Ich komme" or "Bin da"
    under_duress: bool


@dataclass(frozen=True, slots=True)
class Recipient:
    id: int
    site_id: int
    level: int
    after_s: int
    channel: str
    address: str
    label: str
    audience: str
    language: str
    created_at: datetime  # told of alarms stored from then on, as a saved policy


def rows_due(
    alarms: Iterable[OpenAlarm],
    recipients: Sequence[Recipient],
    planned: set[tuple[str, int]],
    now: datetime,
) -> list[tuple[OpenAlarm, Recipient]]:
    """Pure: the (alarm, recipient) pairs that need a row now and have none."""
    due: list[tuple[OpenAlarm, Recipient]] = []
    for alarm in alarms:
        for r in recipients:
            if (r.site_id, r.level) != (alarm.site_id, alarm.level):
                continue
            if (alarm.id, r.id) in planned or alarm.stored_at < r.created_at:
                continue
            if alarm.under_duress and r.audience == Audience.STAFF.value:
                continue  # staff were told "withdrawn": nothing more reaches them
            if r.after_s > 0:
                if alarm.stored_at + timedelta(seconds=r.after_s) > now:
                    continue  # not yet
                if alarm.state != AlarmState.ACTIVE.value or alarm.someone_coming:
                    continue  # acknowledged by then: this step stops
            due.append((alarm, r))
    return due


async def plan(db: Database, now: datetime) -> set[str]:
    """Makes the rows that are due and drops those no longer wanted; returns the alarms touched."""
    due: list[tuple[OpenAlarm, Recipient]] = []
    async with db.read() as session:
        stale = await _stale(session)
        ended = await allclear.owed(session)
        latest = await _latest_steps(session)
        if latest:  # else no site has a channel recipient: the common case, two reads
            since = now - timedelta(seconds=max(latest.values())) - HORIZON
            alarms = [
                a for a in await _open_alarms(session, since) if (a.site_id, a.level) in latest
            ]
            recipients = await _recipients(session, {(a.site_id, a.level) for a in alarms})
            planned = await _planned(session, [a.id for a in alarms])
            due = rows_due(alarms, recipients, planned, now)
    if not due and not stale and not ended:
        return set()
    async with db.write() as session:
        rows = [_row(a, r, now) for a, r in due] + [allclear.row(e, now) for e in ended]
        if rows:
            await session.execute(_insert(session), rows)
        if ended:  # with its all-clear, in one transaction: never two, never none
            await allclear.close(session, ended, now)
        if stale:
            await session.execute(
                update(ChannelDelivery)
                .where(ChannelDelivery.id.in_(list(stale)), ChannelDelivery.state.in_(WAITING))
                .values(state=DeliveryState.DROPPED.value, last_error="")
            )
    return {a.id for a, _ in due} | set(stale.values()) | {e.alarm_id for e in ended}


async def _latest_steps(session: AsyncSession) -> dict[tuple[int, int], int]:
    rows = await session.execute(
        select(
            ChannelRecipient.site_id, ChannelRecipient.level, func.max(ChannelRecipient.after_s)
        ).group_by(ChannelRecipient.site_id, ChannelRecipient.level)
    )
    return {(site, level): int(latest) for site, level, latest in rows}


async def _open_alarms(session: AsyncSession, since: datetime) -> list[OpenAlarm]:
    coming = (
        select(AlarmRecipient.alarm_id)
        .where(AlarmRecipient.answer.in_([Answer.COMING.value, Answer.ARRIVED.value]))
        .where(AlarmRecipient.alarm_id == Alarm.id)
        .exists()
    )
    rows = await session.execute(
        select(
            Alarm.id,
            func.coalesce(Room.site_id, Workstation.site_id),
            Alarm.level,
            Alarm.state,
            Alarm.stored_at,
            coming,
            Alarm.cancelled_under_duress_at.is_not(None),
        )
        .join(Workstation, Workstation.id == Alarm.workstation_id)
        .outerjoin(Room, Room.id == Alarm.room_id)
        .where(
            Alarm.state.in_(OPEN_STATES),
            Alarm.kind != AlarmKind.SELF_TEST.value,
            Alarm.stored_at >= since,
        )
    )
    return [
        OpenAlarm(alarm_id, int(site), level, state, stored, bool(someone), bool(duress))
        for alarm_id, site, level, state, stored, someone, duress in rows
    ]


async def _recipients(session: AsyncSession, wanted: set[tuple[int, int]]) -> list[Recipient]:
    if not wanted:
        return []
    rows = await session.scalars(
        select(ChannelRecipient)
        .where(
            or_(
                *(
                    and_(ChannelRecipient.site_id == s, ChannelRecipient.level == lv)
                    for s, lv in wanted
                )
            )
        )
        .order_by(ChannelRecipient.id)
    )
    return [
        Recipient(
            r.id,
            r.site_id,
            r.level,
            r.after_s,
            r.channel,
            r.address,
            r.label,
            r.audience,
            r.language,
            r.created_at,
        )
        for r in rows
    ]


async def _planned(session: AsyncSession, alarm_ids: list[str]) -> set[tuple[str, int]]:
    if not alarm_ids:
        return set()
    rows = await session.execute(
        select(ChannelDelivery.alarm_id, ChannelDelivery.recipient_id).where(
            ChannelDelivery.alarm_id.in_(alarm_ids)
        )
    )
    return {(alarm_id, recipient_id) for alarm_id, recipient_id in rows}


async def _stale(session: AsyncSession) -> dict[int, str]:
    """Waiting alarm rows of alarms that ended, and staff's of an alarm withdrawn under duress
    (an all-clear is made for an alarm that ended: it is never dropped for that)."""
    rows = await session.execute(
        select(ChannelDelivery.id, ChannelDelivery.alarm_id)
        .join(Alarm, Alarm.id == ChannelDelivery.alarm_id)
        .where(
            ChannelDelivery.state.in_(WAITING),
            ChannelDelivery.kind == MessageKind.ALARM.value,
            allclear.over_for_recipient(),
        )
    )
    return {delivery_id: alarm_id for delivery_id, alarm_id in rows}


def _insert(session: AsyncSession) -> postgresql.Insert | sqlite.Insert:
    """INSERT … ON CONFLICT DO NOTHING: another instance may have planned the same row."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(ChannelDelivery).on_conflict_do_nothing()
    return sqlite.insert(ChannelDelivery).on_conflict_do_nothing()


def _row(alarm: OpenAlarm, r: Recipient, now: datetime) -> dict[str, object]:
    return {
        "idempotency_key": idempotency_key(alarm.id, r.id),
        "alarm_id": alarm.id,
        "recipient_id": r.id,
        "channel": r.channel,
        "address": r.address,
        "label": r.label,
        "audience": r.audience,
        "language": r.language,
        "after_s": r.after_s,
        "state": DeliveryState.DUE.value,
        "attempts": 0,
        "due_at": now,
        "claimed_at": None,
        "sent_at": None,
        "last_error": "",
        "reference": "",
        "created_at": now,
        "kind": MessageKind.ALARM.value,
        "level": alarm.level,
        "closed_at": None,
    }
