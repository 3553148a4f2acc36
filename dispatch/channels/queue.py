"""The delivery queue's worker: plans rows, claims due ones, sends them, records how it went.

Sending never delays storing or the popups: the hub only wakes the worker after an
alarm's commit (``wake``), and the worker's rows, claims and outcomes are writes of
their own, which an alarm's group commit goes ahead of (dispatch/store/writer_turns.py).
Due rows are claimed with one ``UPDATE … WHERE state IN ('due','failed') … RETURNING``,
so of two hub instances on one database only one sends a row. A send is cut off after
``CHANNEL_SEND_TIMEOUT``; a row left "sending" by a crash is taken up again after its
lease (twice that) and sent under the same idempotency key: at least once, and a
receiver that honours the key (or the e-mail's Message-ID) shows it once.

The sending itself runs in the sender process (dispatch/channels/sender_process.py) at
idle priority; the queue keeps the store's share: one read of the alarm facts per round
for all claimed rows, each channel's ``prepare`` and ``conclude``, and the outcomes,
written in batches with one ``on_change`` per batch (dispatch/channels/outcomes.py).
Rows whose send the sender process took with it when it died go back to due.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Collection
from datetime import datetime

import structlog
from sqlalchemy import select, update

from dispatch.channels import planning
from dispatch.channels.base import (
    Audience,
    Channel,
    ChannelKind,
    Failed,
    OutboundMessage,
    Outcome,
    Sent,
)
from dispatch.channels.content import AlarmFacts, probe_message, render_row
from dispatch.channels.facts import alarm_facts
from dispatch.channels.outcomes import Change, OutcomeWriter, change_for
from dispatch.channels.retry import WAITING, DeliveryState, lease
from dispatch.channels.senders import InProcess, Sender, SenderLost
from dispatch.channels.summary import DeliveryRow, counts, delivery_rows
from dispatch.channels.webhook import WebhookChannel, split_address
from dispatch.store.database import Database
from dispatch.store.models import ChannelDelivery
from shared.protocol import ChannelCount, utc_now

log = structlog.get_logger(__name__)

POLL_S = 1.0
"""Rows become due by the clock (a retry, an escalation step): looked for at least this often."""
GATHER_S = 0.02
"""A freed slot waits this long for others before the claim: a claim and the facts read per
finished send cost the hub more than the send itself (docs/performance.md, issue 20)."""


class DeliveryQueue:
    def __init__(
        self,
        db: Database,
        channels: dict[ChannelKind, Channel],
        *,
        send_timeout: float,
        concurrency: int,
        max_attempts: int,
        on_change: Callable[[set[str]], None] = lambda alarm_ids: None,
        sender: Sender | None = None,
    ) -> None:
        self._db = db
        self.channels = channels
        self._send_timeout = send_timeout
        self._lease = lease(send_timeout)
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        # The hub passes its sender process; without one (tests of the queue alone) the
        # channels send on this event loop.
        self._sender: Sender = sender or InProcess(channels, 1.5 * send_timeout)
        self._outcomes = OutcomeWriter(db, on_change)
        self._wake = asyncio.Event()
        # Planning reads every open alarm and its rows: only when an alarm was stored or
        # a poll is due, not each time a send frees its slot (that needs a claim only).
        # Planned after every send, 150 recipients per alarm held the queue to ~50 sends/s.
        self._plan_now = True
        self._task: asyncio.Task[None] | None = None
        # Row id -> its task, from the claim until its outcome is written: the claims
        # leave these rows alone, and a stop puts the unwritten ones back to due.
        self._sending: dict[int, asyncio.Task[None]] = {}
        # Of those, the rows whose send runs now: the ones CHANNEL_CONCURRENCY counts. A
        # finished send frees its slot at once, not after its batch of outcomes is written.
        self._in_flight: set[int] = set()

    # --- lifecycle --------------------------------------------------------------

    @property
    def on_change(self) -> Callable[[set[str]], None]:
        """The hub tells the consoles: once per round and once per batch of outcomes."""
        return self._outcomes.on_change

    @on_change.setter
    def on_change(self, on_change: Callable[[set[str]], None]) -> None:
        self._outcomes.on_change = on_change

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._sending.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self._outcomes.flush()  # sends that are done keep their outcome
        if self._sending:
            # Cut off by the shutdown: due again at once for the next start (or instance),
            # under the same key; the receiver may have got it, so this is at least once.
            with contextlib.suppress(Exception):
                async with self._db.write() as session:
                    await session.execute(
                        update(ChannelDelivery)
                        .where(
                            ChannelDelivery.id.in_(list(self._sending)),
                            ChannelDelivery.state == DeliveryState.SENDING.value,
                        )
                        .values(state=DeliveryState.DUE.value, claimed_at=None)
                    )
        await self._sender.stop()
        for channel in self.channels.values():
            close = getattr(channel, "aclose", None)  # a channel holding connections (httpx)
            if close is not None:
                await close()

    def wake(self) -> None:
        """An alarm was stored (after its commit): plan and send now, not at the next poll."""
        self._plan_now = True
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        planned_at = -POLL_S
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            self._wake.clear()
            # Rows become due by the clock too (a retry, an escalation step): at least
            # once per POLL_S, however busy the sends keep the loop.
            plan = self._plan_now or loop.time() - planned_at >= POLL_S
            if plan:
                self._plan_now, planned_at = False, loop.time()
            else:
                await asyncio.sleep(GATHER_S)  # only slots freed: let more sends finish
            try:
                await self.round(utc_now(), plan=plan)
            except Exception:  # a failed round (the database away) must not end the queue
                self._plan_now = True
                log.exception("channel_round_failed")

    # --- one round ----------------------------------------------------------------

    async def round(self, now: datetime, *, plan: bool = True) -> None:
        """Plans the rows due (``plan``), then claims and starts as many as slots are free."""
        changed = await planning.plan(self._db, now) if plan else set()
        free = self._concurrency - len(self._in_flight)
        if free > 0:
            rows = await self._claim(now, free)
            facts = await self._facts(rows)  # one read for all of them, not one per row
            for row in rows:
                changed.add(row.alarm_id)
                self._in_flight.add(row.id)
                self._sending[row.id] = asyncio.create_task(
                    self._send(row, facts.get(row.alarm_id))
                )
        if changed:
            self.on_change(changed)

    async def _claim(self, now: datetime, limit: int) -> list[ChannelDelivery]:
        claimable = (ChannelDelivery.state.in_(WAITING) & (ChannelDelivery.due_at <= now)) | (
            (ChannelDelivery.state == DeliveryState.SENDING.value)
            & (ChannelDelivery.claimed_at < now - self._lease)
        )
        if self._sending:  # ours, however long their outcome takes to be written
            claimable = claimable & ChannelDelivery.id.not_in(list(self._sending))
        async with self._db.read() as session:  # the common case: nothing due, no write
            if await session.scalar(select(ChannelDelivery.id).where(claimable).limit(1)) is None:
                return []
        async with self._db.write() as session:
            ids = (
                select(ChannelDelivery.id)
                .where(claimable)
                .order_by(ChannelDelivery.due_at)
                .limit(limit)
            )
            # The condition again on the row itself: on PostgreSQL a second instance's
            # UPDATE waits for the first's row lock, then re-checks it and skips the row.
            result = await session.scalars(
                update(ChannelDelivery)
                .where(ChannelDelivery.id.in_(ids), claimable)
                .values(
                    state=DeliveryState.SENDING.value,
                    claimed_at=now,
                    attempts=ChannelDelivery.attempts + 1,
                )
                .returning(ChannelDelivery)
                .execution_options(synchronize_session=False)
            )
            rows = list(result)
            session.expunge_all()
        return rows

    async def _facts(self, rows: list[ChannelDelivery]) -> dict[str, AlarmFacts]:
        if not rows:
            return {}
        async with self._db.read() as session:
            return await alarm_facts(session, {row.alarm_id for row in rows})

    async def _send(self, row: ChannelDelivery, facts: AlarmFacts | None) -> None:
        try:
            try:
                outcome: Outcome | None = await self._attempt(row, facts)
            except SenderLost:
                outcome = None  # logged once by the sender process's handle; due again
            finally:
                self._in_flight.discard(row.id)
                self._wake.set()  # a slot is free: the next due row goes now (a claim)
            change = change_for(row, outcome, utc_now(), self._max_attempts)
            await self._outcomes.record(change)
            if outcome is not None:
                _report(row, outcome, change)
        except Exception:  # the row stays "sending" and is taken up after its lease
            log.exception("channel_send_failed", delivery=row.id)
        finally:
            self._sending.pop(row.id, None)
            self._in_flight.discard(row.id)

    async def _attempt(self, row: ChannelDelivery, facts: AlarmFacts | None) -> Outcome:
        channel = self.channels.get(ChannelKind(row.channel)) if _known(row.channel) else None
        if channel is None:
            return Failed(f"channel {row.channel} is not configured on this hub", retryable=False)
        if facts is None:
            return Failed("alarm gone", retryable=False)
        message = render_row(
            facts, row.kind, Audience(row.audience), row.idempotency_key, row.language, row.level
        )
        return await self._deliver(channel, message, row.address)

    async def _deliver(self, channel: Channel, message: OutboundMessage, address: str) -> Outcome:
        """The hub's part, the sender's part, the hub's part; raises `SenderLost`."""
        job = await channel.prepare(message, address)
        if isinstance(job, Failed):
            return job
        return await channel.conclude(job, await self._sender.transmit(job))

    # --- what the console and the admin page ask ----------------------------------

    async def counts(self, alarm_ids: Collection[str]) -> dict[str, list[ChannelCount]]:
        """Each alarm's deliveries per channel (alarms without any are left out)."""
        by_alarm: dict[str, list[DeliveryRow]] = {}
        for row in await delivery_rows(self._db, alarm_ids):
            by_alarm.setdefault(row.alarm_id, []).append(row)
        return {alarm_id: counts(rows, self.name_of) for alarm_id, rows in by_alarm.items()}

    def name_of(self, channel: str, address: str) -> str:
        """A webhook endpoint's label (or name): "SMS" and "Chat" are counted apart."""
        if channel != ChannelKind.WEBHOOK.value:
            return ""
        endpoint_name = split_address(address)[0]
        webhook = self.channels.get(ChannelKind.WEBHOOK)
        endpoint = webhook.endpoint(address) if isinstance(webhook, WebhookChannel) else None
        return (endpoint.label if endpoint is not None else "") or endpoint_name

    async def send_test(
        self, kind: ChannelKind, address: str, label: str, language: str
    ) -> Outcome:
        """The admin page's "Testnachricht senden": at once, not queued, never retried."""
        channel = self.channels.get(kind)
        if channel is None:
            return Failed(f"channel {kind.value} is not configured on this hub", retryable=False)
        message = probe_message(str(uuid.uuid4()), label, language)
        # Through the sender process like any message: the ESPA line has one control
        # station, and only the sender process's channel holds its lock.
        try:
            return await self._deliver(channel, message, address)
        except SenderLost:
            return Failed(f"{kind.value}: the sender process was lost; please try again")


def _report(row: ChannelDelivery, outcome: Outcome, change: Change) -> None:
    event = {
        DeliveryState.SENT: "channel_sent",
        DeliveryState.FAILED: "channel_retrying",
        DeliveryState.GIVEN_UP: "channel_given_up",
    }.get(change.state)
    if event is None:
        return
    # Never the address, the text or a secret: which row, which alarm, how it went.
    report = log.info if isinstance(outcome, Sent) else log.warning
    report(
        event,
        delivery=row.id,
        alarm_id=row.alarm_id,
        channel=row.channel,
        attempt=row.attempts,
        after_s=row.after_s,
        reason=None if isinstance(outcome, Sent) else outcome.reason,
    )


def _known(channel: str) -> bool:
    return channel in {k.value for k in ChannelKind}
