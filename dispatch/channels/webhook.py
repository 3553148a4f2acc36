"""The webhook channel: an HTTP request per recipient to a named endpoint (SMS gateway, chat tool).

A recipient's address is ``endpoint:to`` (``sms:+491701234567``) or just ``endpoint``
for a tool that posts to one room. The body is the endpoint's template with the
message's fields escaped for its content type; every request carries the delivery's
``Idempotency-Key`` and, with a secret, ``X-Silent-Alarm-Signature: sha256=<HMAC>``
of the exact body bytes, so a gateway can drop a re-send and reject a forgery.

The requests go through one aiohttp client per process, its connections kept between
requests. aiohttp, not httpx: a burst's webhooks cost httpx about 2.8 ms of CPU each
with 16 in flight, aiohttp 0.16 ms (measured on loopback, docs/performance.md), and
the sender sends them on the hub's core.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import string
from urllib.parse import quote_plus

import aiohttp

from dispatch.channels.base import ChannelKind, Failed, OutboundMessage, Outcome, Sent, Storeless
from dispatch.settings import Settings, WebhookEndpoint
from dispatch.store.database import Database

SIGNATURE_HEADER = "X-Silent-Alarm-Signature"
REFERENCE_HEADERS = ("X-Request-Id", "X-Message-Id", "Location")
"""A gateway's own id for the message, where it sends one, is kept as the reference."""


def split_address(address: str) -> tuple[str, str]:
    """``sms:+49170…`` → ("sms", "+49170…"); ``chat`` → ("chat", "")."""
    endpoint, _, to = address.partition(":")
    return endpoint, to


def render_body(endpoint: WebhookEndpoint, message: OutboundMessage, to: str) -> bytes:
    fields = {
        "to": to,
        "subject": message.subject,
        "body": message.body,
        "level": str(message.level),
        "room": message.room or "",
        "site": message.site,
        "alarm_id": message.alarm_id,
        "audience": message.audience.value,
        "idempotency_key": message.idempotency_key,
        "kind": message.kind.value,  # alarm, all_clear or test: a gateway may word them apart
    }
    if endpoint.content_type == "application/json":
        # Inside a JSON string: escaped as JSON, without the quotes the template has.
        escaped = {k: json.dumps(v, ensure_ascii=False)[1:-1] for k, v in fields.items()}
    else:
        escaped = {k: quote_plus(v) for k, v in fields.items()}
    return string.Template(endpoint.body).substitute(escaped).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel(Storeless):
    def __init__(self, settings: Settings) -> None:
        self._endpoints = settings.webhooks
        self._timeout = settings.channel_send_timeout
        self._client: aiohttp.ClientSession | None = None

    @property
    def kind(self) -> ChannelKind:
        return ChannelKind.WEBHOOK

    def endpoint_names(self) -> list[str]:
        return list(self._endpoints)

    def endpoint(self, address: str) -> WebhookEndpoint | None:
        return self._endpoints.get(split_address(address)[0])

    async def send(self, message: OutboundMessage, address: str) -> Outcome:
        name, to = split_address(address)
        endpoint = self._endpoints.get(name)
        if endpoint is None:
            return Failed(f"webhook {name}: no such endpoint in the settings", retryable=False)
        body = render_body(endpoint, message, to)
        headers = {k: v.get_secret_value() for k, v in endpoint.headers.items()}
        headers["Content-Type"] = endpoint.content_type + "; charset=utf-8"
        headers["Idempotency-Key"] = message.idempotency_key
        if endpoint.secret is not None:
            headers[SIGNATURE_HEADER] = signature(endpoint.secret.get_secret_value(), body)
        try:
            # No redirects: the request goes to the configured URL and nowhere else.
            async with self._session().request(
                endpoint.method, endpoint.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                reference = next(
                    (response.headers[h] for h in REFERENCE_HEADERS if h in response.headers), ""
                )
        except TimeoutError:
            return Failed(f"webhook {name}: no answer in time")
        except aiohttp.ClientConnectorError:
            return Failed(f"webhook {name}: cannot connect")
        except aiohttp.ClientError as error:
            # Never the exception's text: it names the URL, where gateways keep tokens.
            return Failed(f"webhook {name}: {type(error).__name__}")
        if 200 <= status < 300:
            return Sent(reference=reference[:300])
        # 4xx but 408/429: the gateway refuses this request as it is; again would not help.
        retryable = status >= 500 or status in (408, 429)
        return Failed(f"webhook {name}: HTTP {status}", retryable=retryable)

    def _session(self) -> aiohttp.ClientSession:
        """Made on first use: aiohttp binds a client to the running loop (the hub process
        builds this class too, to read the endpoints' labels, and never sends)."""
        if self._client is None or self._client.closed:
            self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()


def build_transmitter(settings: Settings) -> WebhookChannel | None:
    """None when no endpoint is configured."""
    return WebhookChannel(settings) if settings.webhooks else None


def build_channel(settings: Settings, db: Database) -> WebhookChannel | None:
    """The hub's side is the same class: the webhook needs nothing from the store (the
    hub reads the endpoints' labels from it; its HTTP client is never made there)."""
    return build_transmitter(settings)
