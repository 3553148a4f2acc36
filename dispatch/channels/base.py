"""The contract between the delivery queue and every outbound channel.

A channel turns one `OutboundMessage` into one send to one address and says how it
went. It never decides who is told what: the queue renders the text by the content
rules (level 3 staff never learn the room) before a channel sees it, and it retries
a `Failed(retryable=True)` with backoff under the same idempotency key.

A send has three parts, because the sending runs in a process of its own
(dispatch/channels/sender.py) that holds no database connection:
``prepare`` (in the hub: whatever needs the store, e.g. Web Push's subscriptions)
makes a picklable `Job`, ``transmit`` (in the sender process: SMTP, HTTP, ESPA,
encryption) sends it, and ``conclude`` (in the hub again: e.g. forgetting a push
subscription the push service dropped) turns the result into the row's outcome.
The queue prepares the messages of one claim together (``prepare_batch``): what a
channel reads from the store it reads once for all of them, not once per message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class ChannelKind(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"  # SMS gateways and chat tools
    ESPA = "espa"  # DECT and pager systems through ESPA 4.4.4
    WEBPUSH = "webpush"  # the console as an installed web app on a guard's phone


class Audience(StrEnum):
    """Whom a message is for; it decides what the message may say at level 3."""

    STAFF = "staff"  # level 3: stay away, lock the door, never the room
    SECURITY = "security"  # room and the police instruction
    MANAGER = "manager"  # the emergency manager: told like security


class MessageKind(StrEnum):
    """What a message is: the webhook's ``$kind``, the push payload's ``kind``."""

    ALARM = "alarm"
    ALL_CLEAR = "all_clear"  # the alarm this recipient was sent is over (or withdrawn)
    TEST = "test"  # the admin page's "Testnachricht senden": there is no alarm


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One alarm's text for one recipient, already cut to the audience's content rules."""

    alarm_id: str
    # The same on every retry of this alarm to this recipient on this channel, so a
    # receiver that deduplicates (webhook gateways, push services) shows it once.
    idempotency_key: str
    level: int
    audience: Audience
    site: str
    room: str | None  # None when the audience must not learn it (level 3 staff)
    subject: str  # short: the level and the room, or the stay-away warning
    body: str
    language: str = "de"
    kind: MessageKind = MessageKind.ALARM
    # The idempotency key of the message this one follows up (an all-clear: its alarm's), so
    # a mail client shows the two as one thread; empty for an alarm message.
    follows: str = ""


@dataclass(frozen=True, slots=True)
class Sent:
    reference: str = ""  # the channel's own id (Message-ID, gateway id, push location)


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str  # one line for the console and the log; never a secret
    retryable: bool = True


Outcome = Sent | Failed


@dataclass(frozen=True, slots=True)
class Job:
    """One send as the sender process gets it: picklable, and everything it needs."""

    kind: ChannelKind
    message: OutboundMessage
    address: str
    # The channel's own plan, made by its ``prepare`` in the hub (Web Push: the browsers
    # and the payload); None for the channels that need nothing from the store.
    detail: object = None


@dataclass(frozen=True, slots=True)
class Transmitted:
    """What ``transmit`` answers: the outcome, and what the hub must still write down."""

    outcome: Outcome
    # Web Push: (subscription id, HTTP status) of each browser its push service dropped.
    gone: tuple[tuple[int, int], ...] = ()


class Transmitter(Protocol):
    """The sending part of a channel, run in the sender process; raises nothing."""

    @property
    def kind(self) -> ChannelKind: ...

    async def transmit(self, job: Job) -> Transmitted: ...


class Channel(Transmitter, Protocol):
    """Sends one message to one address of its kind (an e-mail address, a phone or
    handset number, a push subscription); raises nothing for a failed send."""

    async def prepare(self, message: OutboundMessage, address: str) -> Job | Failed: ...

    async def prepare_batch(
        self, items: Sequence[tuple[OutboundMessage, str]]
    ) -> list[Job | Failed]:
        """``prepare`` for each (message, address), in their order, with the store's reads
        shared: a burst's round hands a channel dozens of messages at once."""
        ...

    async def conclude(self, job: Job, result: Transmitted) -> Outcome: ...


class Storeless:
    """``prepare``, ``transmit`` and ``conclude`` of a channel that needs nothing from the
    store (e-mail, webhook, ESPA): the job is the message and the address, and the
    channel's own ``send`` is the transmission."""

    @property
    def kind(self) -> ChannelKind:
        raise NotImplementedError

    async def send(self, message: OutboundMessage, address: str) -> Outcome:
        raise NotImplementedError

    async def transmit(self, job: Job) -> Transmitted:
        return Transmitted(await self.send(job.message, job.address))

    async def prepare(self, message: OutboundMessage, address: str) -> Job | Failed:
        return Job(self.kind, message, address)

    async def prepare_batch(
        self, items: Sequence[tuple[OutboundMessage, str]]
    ) -> list[Job | Failed]:
        return [Job(self.kind, message, address) for message, address in items]

    async def conclude(self, job: Job, result: Transmitted) -> Outcome:
        return result.outcome


async def send(channel: Channel, message: OutboundMessage, address: str) -> Outcome:
    """All three parts in this process: for tests and tools that have no sender process."""
    job = await channel.prepare(message, address)
    if isinstance(job, Failed):
        return job
    return await channel.conclude(job, await channel.transmit(job))
