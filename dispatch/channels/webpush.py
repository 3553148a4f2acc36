"""Web Push to the guards' phones: the console, installed as an app, shows the alarm even closed.

One ``send`` pushes the message to every browser the operator (the address is
their login name) has subscribed, each encrypted to that browser (RFC 8291,
aes128gcm, by pywebpush) and signed with the hub's VAPID key (RFC 8292), as an
RFC 8030 POST with ``TTL``, ``Urgency: high`` and a ``Topic`` from the
idempotency key, so a retry replaces a push still waiting at the push service
instead of adding a second. Sent if at least one push service accepted it. A
push service answering 404 or 410 has dropped the subscription: it is removed.

The payload (JSON, read by the service worker ``/sw.js``) holds the alarm's id,
level, room (None where the content rules hide it), the subject and body the
queue rendered, and a token that lets "Quittieren" on the notification
acknowledge this one alarm as this operator (dispatch/channels/ack_tokens.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import structlog
from py_vapid import Vapid02
from pywebpush import WebPusher

from dispatch.alarms.views import may_see_alarm
from dispatch.channels import push_subscriptions, vapid
from dispatch.channels.ack_tokens import AckTokens
from dispatch.channels.base import (
    ChannelKind,
    Failed,
    Job,
    MessageKind,
    OutboundMessage,
    Outcome,
    Sent,
    Transmitted,
)
from dispatch.channels.base import send as send_here
from dispatch.channels.push_endpoints import EndpointPolicy, EndpointRefused, endpoint_host
from dispatch.channels.push_rights import AlarmScope, alarm_scopes
from dispatch.channels.push_subscriptions import Recipient, Target
from dispatch.settings import Settings
from dispatch.store.database import Database

log = structlog.get_logger(__name__)

PAYLOAD_VERSION = 1
MAX_PLAINTEXT = 3800  # RFC 8291 leaves 3,993 bytes of a 4,096-byte push; room for padding
POST_TIMEOUT_S = 10.0
AUTH_REUSE_S = 3600.0
"""A signed VAPID header is reused this long per push service (RFC 8292 allows it until its
``exp``, 12 h ahead): signing it for every push cost the sender ~0.1 ms of CPU per push."""
ACK_PATH = "/api/v1/webpush/alarms/{alarm_id}/acknowledge"
OPEN_PATH = "/console?alarm={alarm_id}"


@dataclass(frozen=True, slots=True)
class PushConfig:
    subject: str  # the VAPID "sub": mailto: or https://
    ttl_s: int
    policy: EndpointPolicy


def topic(idempotency_key: str) -> str:
    """RFC 8030 Topic: ≤ 32 characters of base64url, the same for every retry of a message."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:32]


def _alarm_uuid(alarm_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(alarm_id)
    except ValueError:
        return None


def payload(message: OutboundMessage, ack_token: str | None, *, test: bool = False) -> bytes:
    """What the service worker reads (compact JSON); the body is cut to fit one push."""
    fields: dict[str, Any] = {
        "v": PAYLOAD_VERSION,
        "alarm_id": message.alarm_id,
        "level": message.level,
        "room": message.room,
        "site": message.site,
        "audience": message.audience.value,
        "lang": message.language,
        "title": message.subject,
        "body": message.body,
        "url": OPEN_PATH.format(alarm_id=message.alarm_id),
        "ack": None,
        "test": test,
        # "all_clear": the service worker replaces the alarm's notification (same tag).
        "kind": message.kind.value,
    }
    if ack_token is not None:
        fields["ack"] = {"url": ACK_PATH.format(alarm_id=message.alarm_id), "token": ack_token}
    encoded = _json(fields)
    body = message.body.encode("utf-8")
    while len(encoded) > MAX_PLAINTEXT and body:
        # Escapes make the JSON longer than the text: cut again until it fits.
        body = body[: max(0, len(body) - (len(encoded) - MAX_PLAINTEXT) - 3)]
        fields["body"] = body.decode("utf-8", errors="ignore") + "…"
        encoded = _json(fields)
    return encoded


def _json(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True, slots=True)
class PushPlan:
    """A Web Push job's detail, made in the hub: the browsers and the plaintext payload."""

    targets: tuple[Target, ...]
    body: bytes


class WebPushTransmitter:
    """The sender process's part: encrypts the payload to each browser, signs, posts."""

    def __init__(self, key: Vapid02, config: PushConfig) -> None:
        self.key = key
        self._config = config
        self._signed: dict[str, tuple[float, str]] = {}  # audience -> (signed at, header)
        self._client: aiohttp.ClientSession | None = None

    @property
    def kind(self) -> ChannelKind:
        return ChannelKind.WEBPUSH

    async def transmit(self, job: Job) -> Transmitted:
        try:
            return await self._transmit(job)
        except Exception as error:  # the contract: a failed send raises nothing
            log.exception(
                "webpush_failed", alarm_id=job.message.alarm_id, error=type(error).__name__
            )
            return Transmitted(Failed(f"web push failed: {type(error).__name__}"))

    async def _transmit(self, job: Job) -> Transmitted:
        plan = job.detail
        if not isinstance(plan, PushPlan):
            return Transmitted(Failed("web push: no plan for this job", retryable=False))
        client = self._session()
        posted = await asyncio.gather(
            *(self._post(client, target, plan.body, job.message) for target in plan.targets)
        )
        gone = tuple(
            (target.id, status)
            for target, (_, status) in zip(plan.targets, posted, strict=True)
            if status in (404, 410)
        )
        outcomes = [outcome for outcome, _ in posted]
        accepted = [o for o in outcomes if isinstance(o, Sent)]
        if accepted:
            return Transmitted(accepted[0], gone)
        failures = [o for o in outcomes if isinstance(o, Failed)]
        reasons = "; ".join(dict.fromkeys(f.reason for f in failures))
        retryable = any(f.retryable for f in failures)
        return Transmitted(Failed(reasons[:300], retryable=retryable), gone)

    def _session(self) -> aiohttp.ClientSession:
        """One client for the process, made on first use (aiohttp binds it to the running loop).

        Its connections to a push service stay open between pushes: a burst's pushes go to
        a handful of services (FCM, Mozilla, …), and a client per send opened a TCP
        connection, and at a real push service a TLS handshake, for every push.
        """
        if self._client is None or self._client.closed:
            self._client = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT_S)
            )
        return self._client

    async def aclose(self) -> None:
        """Closes the client and its kept connections (the sender process's stop)."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def _authorization(self, audience: str) -> str:
        now = time.monotonic()
        signed = self._signed.get(audience)
        if signed is None or now - signed[0] >= AUTH_REUSE_S:
            signed = (now, vapid.authorization(self.key, audience, self._config.subject))
            self._signed[audience] = signed
        return signed[1]

    async def _post(
        self, client: aiohttp.ClientSession, target: Target, body: bytes, message: OutboundMessage
    ) -> tuple[Outcome, int]:
        """The outcome of one browser's push, and the push service's HTTP status (0: none)."""
        host = endpoint_host(target.endpoint)
        try:
            # Again at send time: a row written past the API, or settings narrowed since.
            self._config.policy.check(target.endpoint)
        except EndpointRefused as refused:
            return Failed(f"push endpoint refused: {refused}", retryable=False), 0
        subscription = {
            "endpoint": target.endpoint,
            "keys": {"p256dh": target.p256dh, "auth": target.auth},
        }
        encrypted = WebPusher(subscription).encode(body, content_encoding="aes128gcm")["body"]
        parts = urlsplit(target.endpoint)
        headers = {
            "Authorization": self._authorization(f"{parts.scheme}://{parts.netloc}"),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(self._config.ttl_s),
            "Urgency": "high",
            "Topic": topic(message.idempotency_key),
        }
        try:
            # No redirects: the hub posts to the checked endpoint and nowhere else.
            async with client.post(
                target.endpoint, data=encrypted, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                location = response.headers.get("Location", "")
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("webpush_unreachable", host=host, error=type(error).__name__)
            return Failed(f"push service {host} unreachable", retryable=True), 0
        if status in (200, 201, 202):
            log.info("webpush_sent", alarm_id=message.alarm_id, host=host, status=status)
            return Sent(reference=location), status
        log.warning("webpush_refused", alarm_id=message.alarm_id, host=host, status=status)
        if status in (404, 410):
            reason = f"subscription at {host} expired (HTTP {status})"
            return Failed(reason, retryable=False), status
        retryable = status == 429 or status >= 500
        return Failed(f"push service {host} answered HTTP {status}", retryable=retryable), status


class WebPushChannel:
    """Pushes to every current subscription of the operator named by the address.

    The hub's part: ``prepare`` reads the operator's browsers, refuses an alarm their
    console would not show and issues the acknowledge token; ``conclude`` forgets the
    browsers a push service dropped. ``transmit`` is the sender process's part. A round's
    pushes are prepared together (``prepare_batch``): one read of the operators, their
    sites and browsers and the alarms' scopes for all of them, not one per push.
    """

    def __init__(
        self, db: Database, transmitter: WebPushTransmitter, tokens: AckTokens, public_key: str
    ) -> None:
        self._db = db
        self._transmitter = transmitter
        self._tokens = tokens
        self.public_key = public_key

    @property
    def kind(self) -> ChannelKind:
        return ChannelKind.WEBPUSH

    async def prepare(self, message: OutboundMessage, address: str) -> Job | Failed:
        return (await self.prepare_batch([(message, address)]))[0]

    async def prepare_batch(
        self, items: Sequence[tuple[OutboundMessage, str]]
    ) -> list[Job | Failed]:
        return await self._guarded_prepare(items, test=False)

    async def transmit(self, job: Job) -> Transmitted:
        return await self._transmitter.transmit(job)

    async def aclose(self) -> None:
        await self._transmitter.aclose()

    async def conclude(self, job: Job, result: Transmitted) -> Outcome:
        for subscription_id, status in result.gone:
            await push_subscriptions.forget(self._db, subscription_id, f"http {status}")
        return result.outcome

    async def send(self, message: OutboundMessage, address: str) -> Outcome:
        """All three parts here, without the sender process (tests, tools)."""
        return await send_here(self, message, address)

    async def send_test(self, message: OutboundMessage, address: str) -> Outcome:
        """A push that is no alarm (the console's "Test-Push"): no acknowledge token.

        Sent from the hub itself, not through the sender process: an operator presses it
        now and then, never during an alarm's burst, and the answer belongs to the request.
        """
        (job,) = await self._guarded_prepare([(message, address)], test=True)
        if isinstance(job, Failed):
            return job
        return await self.conclude(job, await self.transmit(job))

    async def _guarded_prepare(
        self, items: Sequence[tuple[OutboundMessage, str]], *, test: bool
    ) -> list[Job | Failed]:
        try:
            return await self._prepare(items, test=test)
        except Exception as error:  # the contract: a failed send raises nothing
            alarm_ids = sorted({message.alarm_id for message, _ in items})
            log.exception("webpush_failed", alarm_ids=alarm_ids, error=type(error).__name__)
            return [Failed(f"web push failed: {type(error).__name__}")] * len(items)

    async def _prepare(
        self, items: Sequence[tuple[OutboundMessage, str]], *, test: bool
    ) -> list[Job | Failed]:
        alarm_ids = set() if test else {a for m, _ in items if (a := _alarm_uuid(m.alarm_id))}
        async with self._db.read() as session:
            found = await push_subscriptions.recipients(session, {a for _, a in items})
            scopes = await alarm_scopes(session, alarm_ids)
        return [
            self._job(message, address, found.get(address), scopes, test=test)
            for message, address in items
        ]

    def _job(
        self,
        message: OutboundMessage,
        address: str,
        found: Recipient | None,
        scopes: dict[uuid.UUID, AlarmScope],
        *,
        test: bool,
    ) -> Job | Failed:
        if found is None:
            return Failed(f"no active operator {address!r}", retryable=False)
        if not found.targets:
            return Failed(f"{address} has no browser subscribed to pushes", retryable=False)
        token = None
        alarm_id = _alarm_uuid(message.alarm_id)
        if not test and alarm_id is not None:
            # An alarm the operator's console would not show is not pushed to them either;
            # one not stored here (yet) is: the queue only sends stored alarms.
            scope = scopes.get(alarm_id)
            operator = found.operator
            if scope is not None and not may_see_alarm(
                operator, scope.site_id, scope.level, scope.escalation_step
            ):
                return Failed(
                    f"{operator.username} does not cover this alarm (site or level)",
                    retryable=False,
                )
            if message.kind is MessageKind.ALARM:  # an all-clear has nothing to acknowledge
                token = self._tokens.issue(alarm_id, found.operator_id, found.session_epoch)
        plan = PushPlan(found.targets, payload(message, token, test=test))
        return Job(self.kind, message, address, plan)


def build_transmitter(settings: Settings) -> WebPushTransmitter | None:
    """The sender process's part, or None when no VAPID key is configured."""
    if settings.vapid_private_key_file is None:
        return None
    key = vapid.load(settings.vapid_private_key_file)
    return WebPushTransmitter(
        key, PushConfig(settings.vapid_subject, settings.webpush_ttl, EndpointPolicy.of(settings))
    )


def build_channel(settings: Settings, db: Database) -> WebPushChannel | None:
    """The channel, or None when no VAPID key is configured; a bad key file raises
    ``VapidKeyError`` (a ValueError: the hub refuses to start with one line)."""
    transmitter = build_transmitter(settings)
    if transmitter is None:
        return None
    secret = settings.require_session_secret().get_secret_value()
    return WebPushChannel(
        db,
        transmitter,
        AckTokens(secret, settings.webpush_ack_token_ttl),
        vapid.public_key(transmitter.key),
    )
