"""Issue 20 on SQLite and PostgreSQL: the delivery queue's share is paid per round, not per
message, so a burst of alarms goes out within seconds.

A round claims up to ``CHANNEL_CONCURRENCY`` rows per channel with one ``UPDATE``, reads the
alarm facts once and lets each channel prepare its rows together (Web Push: one read of
the operators, their sites, their browsers and the alarms' scopes), and hands them to the
sender at once; the statements are counted with an event listener, as
test_topology_version.py counts the group commit's. A channel whose sends hang holds its
own slots only, and a graceful stop puts unfinished rows back to due. The sender here is a
stand-in that answers (or holds) each job; the real sender process has its own tests
(tests/integration/test_channel_sender.py).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta

from py_vapid import Vapid02
from sqlalchemy import Engine, event, insert, select

from dispatch.alarms.store import AlarmStore
from dispatch.channels import planning
from dispatch.channels.ack_tokens import AckTokens
from dispatch.channels.base import Channel, ChannelKind, Job, Sent, Transmitted
from dispatch.channels.email import EmailChannel
from dispatch.channels.push_endpoints import EndpointPolicy
from dispatch.channels.queue import DeliveryQueue
from dispatch.channels.webhook import WebhookChannel
from dispatch.channels.webpush import PushConfig, WebPushChannel, WebPushTransmitter
from dispatch.directory.authentication import Authenticator
from dispatch.directory.site_scope import EVERY_SITE
from dispatch.directory.site_setup import create_building, create_floor, create_room, create_site
from dispatch.directory.workstations import add_workstation
from dispatch.settings import PUSH_SERVICE_HOSTS, Settings, WebhookEndpoint
from dispatch.store.database import Database
from dispatch.store.models import (
    ChannelDelivery,
    ChannelRecipient,
    Operator,
    OperatorSite,
    PushSubscription,
)
from shared.domain import AlarmLevel, Trigger, WorkstationRole
from shared.protocol import RaiseAlarm, utc_now
from tests.storage.test_push_subscriptions import browser_keys

ACTOR = "test"


class StandIn:
    """A sender that answers every job `Sent` at once, but holds the jobs of ``hold``'s
    channels until ``release``; it records each batch it is handed."""

    def __init__(self, hold: frozenset[ChannelKind] = frozenset()) -> None:
        self.hold = hold
        self.batches: list[list[Job]] = []
        self.held: list[asyncio.Future[Transmitted]] = []
        self.handed = asyncio.Event()  # set at each batch handed over

    async def submit(self, jobs: Sequence[Job]) -> list[asyncio.Future[Transmitted]]:
        self.batches.append(list(jobs))
        answers = []
        for job in jobs:
            answer: asyncio.Future[Transmitted] = asyncio.get_running_loop().create_future()
            if job.kind in self.hold:
                self.held.append(answer)
            else:
                answer.set_result(Transmitted(Sent(job.message.idempotency_key)))
            answers.append(answer)
        self.handed.set()
        return answers

    def release(self) -> None:
        for answer in self.held:
            if not answer.done():
                answer.set_result(Transmitted(Sent("released")))
        self.held.clear()

    async def stop(self) -> None:
        return None


async def site_with_pc(db: Database, name: str) -> int:
    site = (await create_site(db, ACTOR, name, "Weg 1", scope=EVERY_SITE)).id
    building = await create_building(db, ACTOR, site, "Haus", scope=EVERY_SITE)
    floor = (await create_floor(db, ACTOR, building.id, "EG", scope=EVERY_SITE)).id
    room = (await create_room(db, ACTOR, floor, "0.01", "Empfang", scope=EVERY_SITE)).id
    pc = f"pc-{name}"
    await add_workstation(db, ACTOR, pc, site, room, f"token-{name}", WorkstationRole.STAFF, pc)
    return site


async def guard(db: Database, name: str, site: int, *, browsers: int = 1) -> None:
    """A guard of ``site`` (written as the bench does: no password to hash) with browsers."""
    now = utc_now()
    async with db.write() as session:
        operator = await session.scalar(
            insert(Operator)
            .values(
                username=name,
                display_name=name,
                role="guard",
                password_hash="!",
                created_at=now,
                failed_logins=0,
                disabled=False,
                session_epoch=0,
                source="local",
            )
            .returning(Operator.id)
        )
        await session.execute(insert(OperatorSite).values(operator_id=operator, site_id=site))
        for n in range(browsers):
            p256dh, auth = browser_keys()
            await session.execute(
                insert(PushSubscription).values(
                    operator_id=operator,
                    endpoint=f"https://fcm.googleapis.com/fcm/send/{name}-{n}",
                    p256dh=p256dh,
                    auth=auth,
                    session_epoch=0,
                    created_at=now,
                )
            )


async def recipients(db: Database, site: int, channel: str, addresses: Sequence[str]) -> None:
    async with db.write() as session:
        await session.execute(
            insert(ChannelRecipient),
            [
                {
                    "site_id": site,
                    "level": 2,
                    "after_s": 0,
                    "channel": channel,
                    "address": address,
                    "label": "",
                    "audience": "security",
                    "language": "de",
                    "created_at": utc_now() - timedelta(minutes=1),
                }
                for address in addresses
            ],
        )


async def raise_alarm(db: Database, name: str) -> str:
    raiser = await Authenticator(db).authenticate_workstation(f"pc-{name}", f"token-{name}")
    assert raiser is not None
    message = RaiseAlarm(
        alarm_id=uuid.uuid4(), level=AlarmLevel.THREAT, trigger=Trigger.HOTKEY, raised_at=utc_now()
    )
    await AlarmStore(db).store(message, raiser, "K")
    return str(message.alarm_id)


def webpush(db: Database) -> WebPushChannel:
    key = Vapid02()
    key.generate_keys()
    config = PushConfig("mailto:wache@amt.example", 600, EndpointPolicy(PUSH_SERVICE_HOSTS))
    return WebPushChannel(db, WebPushTransmitter(key, config), AckTokens("s" * 48, 3600), "k")


def queue(
    db: Database, channels: dict[ChannelKind, Channel], sender: StandIn, concurrency: int
) -> DeliveryQueue:
    return DeliveryQueue(
        db, channels, send_timeout=5, concurrency=concurrency, max_attempts=3, sender=sender
    )


async def settle(deliveries: DeliveryQueue) -> None:
    """Until every batch the rounds started has its outcomes written."""
    while deliveries._batches:
        await asyncio.gather(*list(deliveries._batches))


async def states(db: Database, alarm_id: str) -> Counter[tuple[str, str]]:
    async with db.read() as session:
        rows = await session.execute(
            select(ChannelDelivery.channel, ChannelDelivery.state).where(
                ChannelDelivery.alarm_id == alarm_id
            )
        )
        return Counter((channel, state) for channel, state in rows)


@contextmanager
def statements() -> Iterator[Counter[str]]:
    """Statements sent to the database while the block runs, by their first words (an
    executemany counts once: it is one statement)."""
    counts: Counter[str] = Counter()

    def count(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        words = sql.split()
        # The statement and its first table: "SELECT operators", "UPDATE channel_deliveries".
        at = next(i for i, w in enumerate(words) if w in ("FROM", "UPDATE", "INTO") or i == 40)
        counts[f"{words[0]} {words[at + 1] if words[0] != 'UPDATE' else words[1]}"] += 1

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield counts
    finally:
        event.remove(Engine, "before_cursor_execute", count)


async def one_round(db: Database, guards: int) -> tuple[Counter[str], StandIn, str]:
    """A site with ``guards`` push recipients (and a guard who covers another site, one
    without a browser, a login nobody has): one round, its statements counted."""
    name = f"s{guards}"
    site = await site_with_pc(db, name)
    other = await site_with_pc(db, f"{name}-other")
    for n in range(guards):
        await guard(db, f"{name}-wache-{n}", site, browsers=1 + n % 2)
    await guard(db, f"{name}-fremd", other)
    await guard(db, f"{name}-ohne", site, browsers=0)
    names = [f"{name}-wache-{n}" for n in range(guards)]
    await recipients(db, site, "webpush", [*names, f"{name}-fremd", f"{name}-ohne", "niemand"])
    alarm_id = await raise_alarm(db, name)
    await planning.plan(db, utc_now())
    sender = StandIn()
    deliveries = queue(db, {ChannelKind.WEBPUSH: webpush(db)}, sender, concurrency=64)
    try:
        with statements() as counted:
            await deliveries.round(utc_now(), plan=False)
            await settle(deliveries)
    finally:
        await deliveries.stop()
    assert await states(db, alarm_id) == {
        ("webpush", "sent"): guards,
        ("webpush", "given_up"): 3,
    }
    return counted, sender, alarm_id


async def test_a_round_costs_the_same_statements_for_6_pushes_as_for_30(db: Database) -> None:
    """Claimed with one UPDATE, the facts read once, the operators, their sites, browsers
    and the alarm's scope read once for all pushes, the outcomes written with one
    statement: before, each push read its operator twice, its browsers and the alarm."""
    few, few_sender, _ = await one_round(db, 6)
    many, many_sender, alarm_id = await one_round(db, 30)
    assert many == few, (few, many)
    assert many["UPDATE channel_deliveries"] == 2  # the claim, and every outcome at once
    assert many["SELECT push_subscriptions"] == 1
    assert many["SELECT operator_sites"] == 1
    # One batch to the sender: every guard's push, each to all their browsers; the three
    # refused rows never reach it.
    assert [len(b) for b in many_sender.batches] == [30]
    assert [len(b) for b in few_sender.batches] == [6]
    async with db.read() as session:
        reasons = set(
            await session.scalars(
                select(ChannelDelivery.last_error).where(
                    ChannelDelivery.alarm_id == alarm_id, ChannelDelivery.state == "given_up"
                )
            )
        )
    assert reasons == {
        "s30-fremd does not cover this alarm (site or level)",
        "s30-ohne has no browser subscribed to pushes",
        "no active operator 'niemand'",
    }
    targets = {len(job.detail.targets) for job in many_sender.batches[0]}  # type: ignore[attr-defined]
    assert targets == {1, 2}


async def test_a_channel_whose_sends_hang_holds_only_its_own_slots(db: Database) -> None:
    """Two slots per channel; the e-mails hang: two are in flight and the rest wait, while
    every SMS goes out in the rounds meanwhile. Released, the e-mails follow."""
    site = await site_with_pc(db, "hang")
    await recipients(db, site, "email", [f"w{n}@amt.example" for n in range(6)])
    await recipients(db, site, "webhook", [f"sms:+49170{n}" for n in range(6)])
    alarm_id = await raise_alarm(db, "hang")
    settings = Settings(
        smtp_host="127.0.0.1",
        smtp_from="alarm@amt.example",
        webhooks={"sms": WebhookEndpoint(url="http://127.0.0.1:9/sms", body="$to")},
    )
    channels: dict[ChannelKind, Channel] = {
        ChannelKind.EMAIL: EmailChannel(settings),
        ChannelKind.WEBHOOK: WebhookChannel(settings),
    }
    sender = StandIn(hold=frozenset({ChannelKind.EMAIL}))
    deliveries = queue(db, channels, sender, concurrency=2)
    hanging = {("webhook", "sent"): 6, ("email", "sending"): 2, ("email", "due"): 4}
    try:
        await deliveries.round(utc_now())  # plans, claims two of each
        await rounds_until(deliveries, db, alarm_id, hanging)
        assert all(len(b) <= 4 for b in sender.batches)  # never more than two per channel
        assert len(sender.held) == 2
        await rounds_until(
            deliveries, db, alarm_id, {("webhook", "sent"): 6, ("email", "sent"): 6}, sender
        )
    finally:
        await deliveries.stop()


async def rounds_until(
    deliveries: DeliveryQueue,
    db: Database,
    alarm_id: str,
    wanted: dict[tuple[str, str], int],
    releasing: StandIn | None = None,
) -> None:
    """Rounds (as the queue's task runs them when slots free up) until the rows' states are
    ``wanted``; bounded."""
    deadline = time.monotonic() + 20
    while (found := await states(db, alarm_id)) != wanted:
        assert time.monotonic() < deadline, found
        if releasing is not None:
            releasing.release()
        await deliveries.round(utc_now(), plan=False)
        await asyncio.sleep(0.01)


async def test_a_graceful_stop_puts_unfinished_rows_back_to_due(db: Database) -> None:
    """Mid-send when the hub stops: due again at once under the same key (the next start
    sends them), not "sending" until the lease runs out."""
    site = await site_with_pc(db, "stop")
    await recipients(db, site, "webhook", [f"sms:+49171{n}" for n in range(4)])
    alarm_id = await raise_alarm(db, "stop")
    settings = Settings(webhooks={"sms": WebhookEndpoint(url="http://127.0.0.1:9/", body="$to")})
    sender = StandIn(hold=frozenset({ChannelKind.WEBHOOK}))
    deliveries = queue(db, {ChannelKind.WEBHOOK: WebhookChannel(settings)}, sender, 8)
    await deliveries.round(utc_now())
    await asyncio.wait_for(sender.handed.wait(), 10)  # the round's batch is prepared
    assert len(sender.held) == 4
    assert await states(db, alarm_id) == {("webhook", "sending"): 4}
    await deliveries.stop()
    assert await states(db, alarm_id) == {("webhook", "due"): 4}
