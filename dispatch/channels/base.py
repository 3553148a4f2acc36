"""The contract between the delivery queue and every outbound channel.

A channel turns one `OutboundMessage` into one send to one address and says how it
went. It never decides who is told what: the queue renders the text by the content
rules (level 3 staff never learn the room) before a channel sees it, and it retries
a `Failed(retryable=True)` with backoff under the same idempotency key.
"""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class Sent:
    reference: str = ""  # the channel's own id (Message-ID, gateway id, push location)


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str  # one line for the console and the log; never a secret
    retryable: bool = True


Outcome = Sent | Failed


class Channel(Protocol):
    """Sends one message to one address of its kind (an e-mail address, a phone or
    handset number, a push subscription); raises nothing for a failed send."""

    @property
    def kind(self) -> ChannelKind: ...

    async def send(self, message: OutboundMessage, address: str) -> Outcome: ...
