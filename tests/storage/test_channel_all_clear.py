"""Issue 20's all-clear on SQLite and PostgreSQL: who is owed one when an alarm ends, two hub
instances planning and sending them once, and migration 0015 down and up again.

Two ``Database`` objects are two hub instances; the sends go through the real webhook
channel to a real local HTTP receiver, counted per idempotency key.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import select, text, update

from dispatch.alarms.store import AlarmStore
from dispatch.channels import allclear, planning
from dispatch.channels.allclear import all_clear_key
from dispatch.channels.base import ChannelKind
from dispatch.channels.queue import DeliveryQueue
from dispatch.channels.webhook import WebhookChannel
from dispatch.directory.authentication import Authenticator
from dispatch.settings import Settings, WebhookEndpoint
from dispatch.store.database import Database
from dispatch.store.migrate import alembic_config, upgrade
from dispatch.store.models import Alarm, ChannelDelivery
from shared.domain import AlarmLevel, Trigger
from shared.protocol import RaiseAlarm, utc_now
from tests.storage.test_channel_queue import RECIPIENTS, stored_alarm
from tests.support.postgres import create_database, drop_database, sqlalchemy_url
from tests.support.webhook_receiver import WebhookReceiver, start_webhook_receiver

Row = tuple[int, str, str, str, int]  # recipient_id, audience, kind, state, level


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
    endpoint = WebhookEndpoint(url=f"{receiver.url}/sms", body='{"kind": "$kind"}')
    channel = WebhookChannel(Settings(webhooks={"sms": endpoint}))
    return DeliveryQueue(
        db, {ChannelKind.WEBHOOK: channel}, send_timeout=5, concurrency=8, max_attempts=3
    )


async def rows(db: Database, alarm_id: str) -> list[Row]:
    async with db.read() as session:
        found = await session.execute(
            select(
                ChannelDelivery.recipient_id,
                ChannelDelivery.audience,
                ChannelDelivery.kind,
                ChannelDelivery.state,
                ChannelDelivery.level,
            )
            .where(ChannelDelivery.alarm_id == alarm_id)
            .order_by(ChannelDelivery.kind, ChannelDelivery.recipient_id)
        )
        return [(r, a, k, s, lv) for r, a, k, s, lv in found]


async def sent_first(db: Database, alarm_id: str, count: int) -> list[int]:
    """Plans the alarm's rows and marks the first ``count`` sent, as the queue would; the
    others stay due (their message has not gone out). Their recipient ids."""
    await planning.plan(db, utc_now())
    ids = sorted(r for r, _, kind, _, _ in await rows(db, alarm_id) if kind == "alarm")[:count]
    async with db.write() as session:
        await session.execute(
            update(ChannelDelivery)
            .where(ChannelDelivery.alarm_id == alarm_id, ChannelDelivery.recipient_id.in_(ids))
            .values(state="sent", sent_at=utc_now(), attempts=1)
        )
    return ids


async def test_only_those_sent_the_alarm_get_an_all_clear_and_once_from_two_instances(
    db: Database, other_instance: Database, receiver: WebhookReceiver
) -> None:
    """Ten of 24 were sent the alarm when it is resolved: both instances plan at the same
    moments, and those ten get one all-clear each (their own key, ``$kind`` all_clear);
    the 14 still waiting are dropped and get none. Nothing more is planned afterwards."""
    alarm_id = await stored_alarm(db)
    told = await sent_first(db, alarm_id, 10)
    assert await planning.plan(db, utc_now()) == set()  # open: nobody is owed one yet
    await AlarmStore(db).resolve(uuid.UUID(alarm_id), "Wache")
    first, second = queue(db, receiver), queue(other_instance, receiver)
    deadline = time.monotonic() + 20
    try:
        while True:
            await asyncio.gather(first.round(utc_now()), second.round(utc_now()))
            all_clears = [r for r in await rows(db, alarm_id) if r[2] == "all_clear"]
            if len(all_clears) == len(told) and {r[3] for r in all_clears} == {"sent"}:
                break
            assert time.monotonic() < deadline, all_clears
            await asyncio.sleep(0.05)
    finally:
        await first.stop()
        await second.stop()
    found = await rows(db, alarm_id)
    assert sorted(r[0] for r in found if r[2] == "all_clear") == told
    assert Counter(r[3] for r in found if r[2] == "alarm") == {"sent": 10, "dropped": 14}
    keys = Counter(r.headers["idempotency-key"] for r in receiver.requests)
    assert keys == Counter({all_clear_key(alarm_id, rid): 1 for rid in told})
    assert {r.body for r in receiver.requests} == {b'{"kind": "all_clear"}'}
    assert {r[4] for r in found} == {2}  # the level the alarm's rows were planned with
    assert await planning.plan(db, utc_now()) == set()


async def test_a_duress_withdrawal_ends_it_for_staff_and_security_waits_for_the_resolve(
    db: Database,
) -> None:
    alarm_id = await stored_alarm(db)
    told = await sent_first(db, alarm_id, 4)
    async with db.write() as session:  # two of the four are staff
        await session.execute(
            update(ChannelDelivery)
            .where(ChannelDelivery.alarm_id == alarm_id, ChannelDelivery.recipient_id.in_(told[:2]))
            .values(audience="staff")
        )
        # What dispatch/alarms/duress.py stores: open, level 3, withdrawn under duress.
        await session.execute(
            update(Alarm)
            .where(Alarm.id == alarm_id)
            .values(level=3, cancelled_under_duress_at=utc_now())
        )
    assert await planning.plan(db, utc_now()) == {alarm_id}
    owed = [(r[0], r[3], r[4]) for r in await rows(db, alarm_id) if r[2] == "all_clear"]
    assert owed == [(told[0], "due", 2), (told[1], "due", 2)]  # staff, at their level
    await AlarmStore(db).resolve(uuid.UUID(alarm_id), "Wache")
    await planning.plan(db, utc_now())
    owed_now = sorted(r[0] for r in await rows(db, alarm_id) if r[2] == "all_clear")
    assert owed_now == told  # security's two once it was resolved; staff's not again


async def test_who_is_owed_one_by_the_alarms_state_and_the_recipients_audience(
    db: Database,
) -> None:
    """The rule in SQL (``over_for_recipient``), state by state: nobody while the alarm is
    open; staff alone once it was withdrawn under duress; everyone sent the alarm once it
    is resolved or withdrawn."""
    alarm_id = await stored_alarm(db)
    told = await sent_first(db, alarm_id, 3)
    async with db.write() as session:
        for recipient_id, audience in zip(told, ("staff", "security", "manager"), strict=True):
            await session.execute(
                update(ChannelDelivery)
                .where(
                    ChannelDelivery.alarm_id == alarm_id,
                    ChannelDelivery.recipient_id == recipient_id,
                )
                .values(audience=audience)
            )

    async def owed_to(state: str, *, duress: bool) -> set[str]:
        async with db.write() as session:
            await session.execute(
                update(Alarm)
                .where(Alarm.id == alarm_id)
                .values(state=state, cancelled_under_duress_at=utc_now() if duress else None)
            )
        async with db.read() as session:
            return {row.audience for row in await allclear.owed(session)}

    for state in ("active", "acknowledged", "arrived"):
        assert await owed_to(state, duress=False) == set()
        assert await owed_to(state, duress=True) == {"staff"}  # security goes on
    for state in ("resolved", "cancelled"):
        assert await owed_to(state, duress=False) == {"staff", "security", "manager"}


# --- migration 0015 down and up -------------------------------------------------------------


async def another_alarm(db: Database) -> str:
    """A second level-2 alarm from the PC ``stored_alarm`` set up, to the same recipients."""
    raiser = await Authenticator(db).authenticate_workstation("pc-k", "token-k")
    assert raiser is not None
    message = RaiseAlarm(
        alarm_id=uuid.uuid4(), level=AlarmLevel.THREAT, trigger=Trigger.HOTKEY, raised_at=utc_now()
    )
    await AlarmStore(db).store(message, raiser, "K")
    return str(message.alarm_id)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def empty_url(request: pytest.FixtureRequest, tmp_path: object) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/store.sqlite3"
        return
    name = await create_database("silent_alarm_migrate")
    try:
        yield sqlalchemy_url(name)
    finally:
        await drop_database(name)


async def test_migration_0015_goes_down_and_up_with_the_queue_in_it(empty_url: str) -> None:
    """Down: the all-clears go, the old key holds again. Up: every row is an alarm row at its
    alarm's level; rows of an alarm that ended before are closed (no all-clear for the
    past), an open alarm's sent rows get theirs once it ends."""
    from alembic import command

    await asyncio.to_thread(upgrade, empty_url)
    db = Database(empty_url)
    try:
        ended, still_open = await stored_alarm(db), await another_alarm(db)
        await sent_first(db, ended, 3)
        await sent_first(db, still_open, 3)
        await AlarmStore(db).resolve(uuid.UUID(ended), "Wache")
        await planning.plan(db, utc_now())  # three all-clears, due
        await db.dispose()

        await asyncio.to_thread(command.downgrade, alembic_config(empty_url), "0014")
        db = Database(empty_url)
        async with db.read() as session:
            count = (await session.execute(text("SELECT count(*) FROM channel_deliveries"))).one()
        assert count == (2 * RECIPIENTS,)
        await db.dispose()

        await asyncio.to_thread(upgrade, empty_url)
        db = Database(empty_url)
        assert {(r[2], r[4]) for r in await rows(db, ended)} == {("alarm", 2)}
        assert await planning.plan(db, utc_now()) == set()  # ended before: closed
        await AlarmStore(db).resolve(uuid.UUID(still_open), "Wache")
        await planning.plan(db, utc_now())
        found = await rows(db, still_open)
        assert len([r for r in found if r[2] == "all_clear"]) == 3
        assert [r for r in await rows(db, ended) if r[2] == "all_clear"] == []
    finally:
        await db.dispose()
    assert len(found) - 3 == RECIPIENTS
