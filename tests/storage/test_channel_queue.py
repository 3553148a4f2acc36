"""Issue 20 on SQLite and PostgreSQL: two hub instances' delivery queues on one database plan
and claim the same due rows at once, and each message goes out exactly once; messages of an
alarm that ended first are dropped.

Two ``Database`` objects are the two instances; both send through the real webhook channel
to a real local HTTP receiver, whose requests are counted per idempotency key.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from dispatch.alarms.store import AlarmStore
from dispatch.channels import planning
from dispatch.channels import queue as queue_module
from dispatch.channels.base import ChannelKind
from dispatch.channels.queue import DeliveryQueue
from dispatch.channels.webhook import WebhookChannel
from dispatch.directory.authentication import Authenticator
from dispatch.directory.site_scope import EVERY_SITE
from dispatch.directory.site_setup import create_building, create_floor, create_room, create_site
from dispatch.directory.workstations import add_workstation
from dispatch.settings import Settings, WebhookEndpoint
from dispatch.store.database import Database
from dispatch.store.models import ChannelDelivery, ChannelRecipient
from shared.domain import AlarmLevel, Trigger, WorkstationRole
from shared.protocol import RaiseAlarm, utc_now
from tests.support.webhook_receiver import WebhookReceiver, start_webhook_receiver

ACTOR = "test"
RECIPIENTS = 24


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = start_webhook_receiver()
    yield server
    server.stop()


@pytest.fixture
async def other_instance(db: Database) -> AsyncIterator[Database]:
    other = Database(db.url)
    try:
        yield other
    finally:
        await other.dispose()


def queue(db: Database, receiver: WebhookReceiver) -> DeliveryQueue:
    endpoint = WebhookEndpoint(url=f"{receiver.url}/sms", body='{"to": "$to"}')
    settings = Settings(webhooks={"sms": endpoint})
    channel = WebhookChannel(settings)
    return DeliveryQueue(
        db, {ChannelKind.WEBHOOK: channel}, send_timeout=5, concurrency=8, max_attempts=3
    )


async def stored_alarm(db: Database) -> str:
    """A level-2 alarm of a fresh site whose recipients were saved before it."""
    site = (await create_site(db, ACTOR, "Kanal", "Weg 1", scope=EVERY_SITE)).id
    building = await create_building(db, ACTOR, site, "Haus", scope=EVERY_SITE)
    floor = (await create_floor(db, ACTOR, building.id, "EG", scope=EVERY_SITE)).id
    room = (await create_room(db, ACTOR, floor, "0.01", "Empfang", scope=EVERY_SITE)).id
    await add_workstation(db, ACTOR, "pc-k", site, room, "token-k", WorkstationRole.STAFF, "K")
    async with db.write() as session:
        await session.execute(
            insert(ChannelRecipient),
            [
                {
                    "site_id": site,
                    "level": 2,
                    "after_s": 0,
                    "channel": "webhook",
                    "address": f"sms:+49{n}",
                    "label": "",
                    "audience": "security",
                    "language": "de",
                    "created_at": utc_now() - timedelta(minutes=1),
                }
                for n in range(RECIPIENTS)
            ],
        )
    raiser = await Authenticator(db).authenticate_workstation("pc-k", "token-k")
    assert raiser is not None
    message = RaiseAlarm(
        alarm_id=uuid.uuid4(), level=AlarmLevel.THREAT, trigger=Trigger.HOTKEY, raised_at=utc_now()
    )
    await AlarmStore(db).store(message, raiser, "K")
    return str(message.alarm_id)


async def test_two_instances_send_each_message_once(
    db: Database, other_instance: Database, receiver: WebhookReceiver
) -> None:
    alarm_id = await stored_alarm(db)
    first, second = queue(db, receiver), queue(other_instance, receiver)
    deadline = time.monotonic() + 20
    try:
        while True:
            # Both plan the same rows and claim the same due rows at the same moment.
            await asyncio.gather(first.round(utc_now()), second.round(utc_now()))
            async with db.read() as session:
                states = list(
                    await session.scalars(
                        select(ChannelDelivery.state).where(ChannelDelivery.alarm_id == alarm_id)
                    )
                )
            if len(states) == RECIPIENTS and set(states) == {"sent"}:
                break
            assert time.monotonic() < deadline, Counter(states)
            await asyncio.sleep(0.05)
    finally:
        await first.stop()
        await second.stop()
    keys = Counter(r.headers["idempotency-key"] for r in receiver.requests)
    assert len(keys) == RECIPIENTS
    assert set(keys.values()) == {1}  # nobody got a message twice
    async with db.read() as session:
        attempts = set(
            await session.scalars(
                select(ChannelDelivery.attempts).where(ChannelDelivery.alarm_id == alarm_id)
            )
        )
    assert attempts == {1}


async def test_messages_not_yet_sent_are_dropped_when_the_alarm_ends(db: Database) -> None:
    """Planned while open; resolved before they went out: dropped, never sent, and no step
    falls due for a resolved alarm."""
    alarm_id = await stored_alarm(db)
    assert await planning.plan(db, utc_now()) == {alarm_id}
    await AlarmStore(db).resolve(uuid.UUID(alarm_id), "Wache")
    assert await planning.plan(db, utc_now()) == {alarm_id}
    async with db.read() as session:
        states = set(
            await session.scalars(
                select(ChannelDelivery.state).where(ChannelDelivery.alarm_id == alarm_id)
            )
        )
    assert states == {"dropped"}
    assert await planning.plan(db, utc_now() + timedelta(minutes=5)) == set()  # nothing more


async def test_outcomes_are_written_in_batches_with_one_console_update_each(
    db: Database, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """24 sends claimed in one round finish within a few milliseconds of each other: their
    outcomes are fewer write transactions than rows, and fewer console updates."""
    alarm_id = await stored_alarm(db)
    updates: list[set[str]] = []
    endpoint = WebhookEndpoint(url=f"{receiver.url}/sms", body='{"to": "$to"}')
    sender = DeliveryQueue(
        db,
        {ChannelKind.WEBHOOK: WebhookChannel(Settings(webhooks={"sms": endpoint}))},
        send_timeout=5,
        concurrency=RECIPIENTS,
        max_attempts=3,
        on_change=updates.append,
    )
    writes = 0
    write = db.write

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal writes
        writes += 1
        return write(*args, **kwargs)

    try:
        await sender.round(utc_now())  # plans the rows, claims all of them, starts the sends
        assert updates == [{alarm_id}]
        monkeypatch.setattr(db, "write", counted)
        deadline = time.monotonic() + 20
        while await states_of(db, alarm_id) != ["sent"] * RECIPIENTS:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    finally:
        await sender.stop()
    assert len(receiver.requests) == RECIPIENTS
    assert 1 <= writes < RECIPIENTS
    batches = updates[1:]
    assert 1 <= len(batches) < RECIPIENTS
    assert all(batch == {alarm_id} for batch in batches)


async def test_a_freed_slot_claims_the_next_rows_without_planning_again(
    db: Database, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planning reads every open alarm and its rows; a finished send needs only a claim.
    With two slots for 24 rows the queue claims a dozen times, and plans once for the
    stored alarm and at most once per POLL_S besides (planned per claim, 150 recipients
    per alarm held the queue to about 50 sends a second)."""
    alarm_id = await stored_alarm(db)
    endpoint = WebhookEndpoint(url=f"{receiver.url}/sms", body='{"to": "$to"}')
    sender = DeliveryQueue(
        db,
        {ChannelKind.WEBHOOK: WebhookChannel(Settings(webhooks={"sms": endpoint}))},
        send_timeout=5,
        concurrency=2,
        max_attempts=3,
    )
    plans = claims = 0
    plan, claim = planning.plan, sender._claim

    async def counted_plan(*args: Any) -> set[str]:
        nonlocal plans
        plans += 1
        return await plan(*args)

    async def counted_claim(*args: Any) -> list[ChannelDelivery]:
        nonlocal claims
        claims += 1
        return await claim(*args)

    monkeypatch.setattr(planning, "plan", counted_plan)
    monkeypatch.setattr(sender, "_claim", counted_claim)
    started = time.monotonic()
    sender.start()
    sender.wake()  # the alarm's commit
    try:
        deadline = started + 20
        while await states_of(db, alarm_id) != ["sent"] * RECIPIENTS:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    finally:
        await sender.stop()
    elapsed = time.monotonic() - started
    assert len(receiver.requests) == RECIPIENTS
    assert claims >= RECIPIENTS // 2
    assert plans <= 2 + elapsed / queue_module.POLL_S, (plans, claims, elapsed)


async def states_of(db: Database, alarm_id: str) -> list[str]:
    async with db.read() as session:
        return list(
            await session.scalars(
                select(ChannelDelivery.state).where(ChannelDelivery.alarm_id == alarm_id)
            )
        )
