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
idle priority; the queue keeps the store's share, and pays it per round, not per
message (a burst of 30 alarms to 150 recipients each is 4,500 messages): one claim of
up to ``CHANNEL_CONCURRENCY`` rows per channel, one read of the alarm facts, one
``prepare_batch`` per channel (Web Push: one read of the operators, their browsers and
the alarms' scopes), one frame to the sender process; its answers come back in frames
and their outcomes are written in batches with one ``on_change`` per batch
(dispatch/channels/outcomes.py). Rows whose send the sender process took with it when
it died go back to due.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from datetime import datetime

import structlog
from sqlalchemy import select, update

from dispatch.channels import planning
from dispatch.channels.base import (
    Audience,
    Channel,
    ChannelKind,
    Failed,
    Job,
    OutboundMessage,
    Outcome,
    Sent,
)
from dispatch.channels.content import AlarmFacts, probe_message, render_row
from dispatch.channels.facts import alarm_facts
from dispatch.channels.outcomes import Change, OutcomeWriter, change_for
from dispatch.channels.retry import WAITING, DeliveryState, lease
from dispatch.channels.senders import InProcess, Sender, SenderLost, transmit
from dispatch.channels.summary import AlarmCounts, counts_by_alarm, delivery_rows
from dispatch.channels.webhook import WebhookChannel, split_address
from dispatch.store.database import Database
from dispatch.store.models import ChannelDelivery
from shared.protocol import utc_now

log = structlog.get_logger(__name__)

POLL_S = 1.0
"""Rows become due by the clock (a retry, an escalation step): looked for at least this often."""
GATHER_S = 0.02
"""A freed slot waits this long for others before the claim: a claim and the facts read per
finished send cost the hub more than the send itself (docs/performance.md, issue 20)."""
YIELD_EVERY = 16
"""Rows rendered between two turns of the event loop: a round of a hundred messages must
not hold up an alarm's popups for the milliseconds it takes."""

_KINDS = tuple(kind.value for kind in ChannelKind)


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
        self._concurrency = concurrency  # messages in flight per channel
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
        self._batches: set[asyncio.Task[None]] = set()
        # Rows claimed here whose outcome is not written yet: the claims leave these rows
        # alone, and a stop puts them back to due.
        self._sending: set[int] = set()
        # Of those, the rows whose send runs now, by channel: what CHANNEL_CONCURRENCY
        # counts. An answered send frees its slot at once, not after its outcome is written.
        self._in_flight: dict[int, str] = {}

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
        unwritten = list(self._sending)  # before the cancelled batches let go of them
        tasks = [t for t in (self._task, *self._batches) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self._outcomes.flush()  # sends that are done keep their outcome
        if unwritten:
            # Cut off by the shutdown: due again at once for the next start (or instance),
            # under the same key; the receiver may have got it, so this is at least once.
            with contextlib.suppress(Exception):
                async with self._db.write() as session:
                    await session.execute(
                        update(ChannelDelivery)
                        .where(
                            ChannelDelivery.id.in_(unwritten),
                            ChannelDelivery.state == DeliveryState.SENDING.value,
                        )
                        .values(state=DeliveryState.DUE.value, claimed_at=None)
                    )
        await self._sender.stop()
        for channel in self.channels.values():
            close = getattr(channel, "aclose", None)  # a channel holding connections (HTTP, SMTP)
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
        """Plans the rows due (``plan``), then claims as many as each channel has free slots
        and hands them to the sender as one batch."""
        changed = await planning.plan(self._db, now) if plan else set()
        free = self._free()
        rows = await self._claim(now, free) if free else []
        if rows:
            facts = await self._facts(rows)  # one read for all of them, not one per row
            for row in rows:
                changed.add(row.alarm_id)
                self._sending.add(row.id)
                self._in_flight[row.id] = row.channel
            batch = asyncio.create_task(self._send_batch(rows, facts))
            self._batches.add(batch)
            batch.add_done_callback(self._batches.discard)
        if changed:
            self.on_change(changed)

    def _free(self) -> dict[str, int]:
        """Free slots by channel (those with none left out)."""
        busy = Counter(self._in_flight.values())
        return {k: n for k in _KINDS if (n := self._concurrency - busy[k]) > 0}

    async def _claim(self, now: datetime, free: dict[str, int]) -> list[ChannelDelivery]:
        claimable = (ChannelDelivery.state.in_(WAITING) & (ChannelDelivery.due_at <= now)) | (
            (ChannelDelivery.state == DeliveryState.SENDING.value)
            & (ChannelDelivery.claimed_at < now - self._lease)
        )
        if self._sending:  # ours, however long their outcome takes to be written
            claimable = claimable & ChannelDelivery.id.not_in(list(self._sending))
        # Only channels with a free slot: a channel whose sends hang (an SMTP server that
        # does not answer) holds its own slots, never the others'. A row of a channel this
        # hub does not know is taken too: it is given up at once.
        wanted = ChannelDelivery.channel.in_(list(free)) | ChannelDelivery.channel.not_in(_KINDS)
        async with self._db.read() as session:  # the common case: nothing due, no write
            due = (
                await session.execute(
                    select(ChannelDelivery.id, ChannelDelivery.channel)
                    .where(claimable, wanted)
                    .order_by(ChannelDelivery.due_at)
                    .limit(sum(free.values()))
                )
            ).all()
        if not due:
            return []
        left = dict(free)
        ids = []
        for row_id, channel in due:  # oldest first, up to each channel's free slots
            if channel not in left:
                ids.append(row_id)
            elif left[channel] > 0:
                left[channel] -= 1
                ids.append(row_id)
        async with self._db.write() as session:
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
        async with self._db.read() as session:
            return await alarm_facts(session, {row.alarm_id for row in rows})

    # --- one batch: prepared together, sent together, answered in frames ---------------

    async def _send_batch(self, rows: list[ChannelDelivery], facts: dict[str, AlarmFacts]) -> None:
        written: list[asyncio.Task[None]] = []
        try:
            prepared = await self._prepare(rows, facts)
            refused = [(row, job) for row, job in prepared if isinstance(job, Failed)]
            if refused:
                written.append(self._finish(refused))
            jobs = [(row, job) for row, job in prepared if isinstance(job, Job)]
            if jobs:
                await self._transmit(jobs, written)
        except Exception:  # the rows stay "sending" and are taken up after their lease
            log.exception("channel_send_failed", deliveries=[row.id for row in rows])
        finally:
            try:
                for outcome in await asyncio.gather(*written, return_exceptions=True):
                    if isinstance(outcome, Exception):  # taken up after their lease
                        log.error("channel_outcomes_not_written", error=type(outcome).__name__)
            finally:
                for row in rows:
                    self._in_flight.pop(row.id, None)
                    self._sending.discard(row.id)

    async def _prepare(
        self, rows: list[ChannelDelivery], facts: dict[str, AlarmFacts]
    ) -> list[tuple[ChannelDelivery, Job | Failed]]:
        """Each row's job, or why it is not sent; each channel prepares its rows together."""
        done: dict[int, Job | Failed] = {}
        by_kind: dict[ChannelKind, list[tuple[ChannelDelivery, OutboundMessage]]] = {}
        for n, row in enumerate(rows, 1):
            kind = ChannelKind(row.channel) if row.channel in _KINDS else None
            row_facts = facts.get(row.alarm_id)
            if kind is None or kind not in self.channels:
                done[row.id] = Failed(
                    f"channel {row.channel} is not configured on this hub", retryable=False
                )
            elif row_facts is None:
                done[row.id] = Failed("alarm gone", retryable=False)
            else:
                message = render_row(
                    row_facts,
                    row.kind,
                    Audience(row.audience),
                    row.idempotency_key,
                    row.language,
                    row.level,
                    follows=planning.idempotency_key(row.alarm_id, row.recipient_id),
                )
                by_kind.setdefault(kind, []).append((row, message))
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # dozens of messages rendered: the popups go first
        for kind, items in by_kind.items():
            jobs = await self.channels[kind].prepare_batch(
                [(message, row.address) for row, message in items]
            )
            for (row, _), job in zip(items, jobs, strict=True):
                done[row.id] = job
        return [(row, done[row.id]) for row in rows]

    async def _transmit(
        self, jobs: list[tuple[ChannelDelivery, Job]], written: list[asyncio.Task[None]]
    ) -> None:
        """Hands the jobs to the sender at once; writes the outcomes as the answers come."""
        try:
            answers = await self._sender.submit([job for _, job in jobs])
        except SenderLost:  # logged once by the sender process's handle; due again
            written.append(self._finish([(row, None) for row, _ in jobs]))
            return
        pending = dict(zip(answers, jobs, strict=True))
        while pending:
            answered, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            finished: list[tuple[ChannelDelivery, Outcome | None]] = []
            for answer in answered:
                row, job = pending.pop(answer)
                try:
                    result = answer.result()
                except SenderLost:
                    finished.append((row, None))
                    continue
                try:
                    outcome = await self.channels[job.kind].conclude(job, result)
                except Exception:  # the row stays "sending" and is taken up after its lease
                    self._in_flight.pop(row.id, None)
                    log.exception("channel_send_failed", delivery=row.id)
                    continue
                finished.append((row, outcome))
            if finished:
                written.append(self._finish(finished))

    def _finish(
        self, finished: Sequence[tuple[ChannelDelivery, Outcome | None]]
    ) -> asyncio.Task[None]:
        """Frees the rows' slots now and writes their outcomes (with others: a batch)."""
        now = utc_now()
        changes = [change_for(row, outcome, now, self._max_attempts) for row, outcome in finished]
        for row, _ in finished:
            self._in_flight.pop(row.id, None)
        self._wake.set()  # slots are free: the next due rows go now (a claim)
        return asyncio.create_task(self._record(finished, changes))

    async def _record(
        self, finished: Sequence[tuple[ChannelDelivery, Outcome | None]], changes: list[Change]
    ) -> None:
        await self._outcomes.record_many(changes)
        for (row, outcome), change in zip(finished, changes, strict=True):
            if outcome is not None:
                _report(row, outcome, change)

    async def _deliver(self, channel: Channel, message: OutboundMessage, address: str) -> Outcome:
        """The hub's part, the sender's part, the hub's part; raises `SenderLost`."""
        job = await channel.prepare(message, address)
        if isinstance(job, Failed):
            return job
        return await channel.conclude(job, await transmit(self._sender, job))

    # --- what the console and the admin page ask ----------------------------------

    async def counts(self, alarm_ids: Collection[str]) -> dict[str, AlarmCounts]:
        """Each alarm's deliveries and all-clears per channel (alarms without any are left
        out)."""
        return counts_by_alarm(await delivery_rows(self._db, alarm_ids), self.name_of)

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
