"""The webhook channel's HTTP against a real local server: what each answer becomes.

A gateway's answer decides whether a message is retried, and its one-line reason is what
the guard reads on the console; a redirect is never followed (the request goes to the
configured URL only), and the client keeps its connection between requests.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from dispatch.channels.base import Audience, Failed, OutboundMessage, Sent
from dispatch.channels.webhook import SIGNATURE_HEADER, WebhookChannel, signature
from dispatch.settings import Settings, WebhookEndpoint

SECRET = "gateway-hmac-secret-0123456789"


@dataclass
class Gateway:
    url: str
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    peers: list[object] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    found = Gateway(url="")

    async def take(request: web.Request) -> None:
        found.bodies.append(await request.read())
        found.headers.append(dict(request.headers))
        found.peers.append(
            request.transport.get_extra_info("peername") if request.transport else None
        )

    async def ok(request: web.Request) -> web.Response:
        await take(request)
        return web.json_response({}, headers={"X-Request-Id": "gw-17"})

    async def status(request: web.Request) -> web.Response:
        await take(request)
        return web.Response(status=int(request.match_info["code"]))

    async def moved(request: web.Request) -> web.Response:
        await take(request)
        raise web.HTTPFound("/ok")

    async def slow(request: web.Request) -> web.Response:
        await take(request)
        await found.release.wait()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/ok", ok)
    app.router.add_post("/status/{code}", status)
    app.router.add_post("/moved", moved)
    app.router.add_post("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    found.url = f"http://127.0.0.1:{port}"
    try:
        yield found
    finally:
        found.release.set()
        await runner.cleanup()


def channel(url: str, *, timeout: float = 5.0) -> WebhookChannel:
    endpoint = WebhookEndpoint(
        url=url, body='{"to": "$to", "text": "$subject"}', secret=SECRET, label="SMS"
    )
    return WebhookChannel(Settings(webhooks={"sms": endpoint}, channel_send_timeout=timeout))


def message() -> OutboundMessage:
    return OutboundMessage(
        alarm_id="a1",
        idempotency_key="key-1",
        level=2,
        audience=Audience.SECURITY,
        site="Jobcenter Mitte",
        room="1.01",
        subject="Stiller Alarm Stufe 2: Raum 1.01",
        body="Bitte kommen.",
    )


async def test_a_taken_request_is_sent_signed_with_the_gateways_id_on_one_connection(
    gateway: Gateway,
) -> None:
    webhook = channel(gateway.url + "/ok")
    try:
        first = await webhook.send(message(), "sms:+4917011")
        second = await webhook.send(message(), "sms:+4917012")
    finally:
        await webhook.aclose()
    assert first == second == Sent(reference="gw-17")
    assert gateway.bodies[0] == b'{"to": "+4917011", "text": "Stiller Alarm Stufe 2: Raum 1.01"}'
    assert gateway.headers[0]["Idempotency-Key"] == "key-1"
    assert gateway.headers[0][SIGNATURE_HEADER] == signature(SECRET, gateway.bodies[0])
    assert gateway.headers[0]["Content-Type"] == "application/json; charset=utf-8"
    assert gateway.peers[0] == gateway.peers[1]  # the connection was kept for the second


@pytest.mark.parametrize(
    ("code", "retryable"),
    [(500, True), (503, True), (429, True), (408, True), (400, False), (404, False)],
)
async def test_an_error_answer_fails_retryable_only_where_again_may_help(
    gateway: Gateway, code: int, retryable: bool
) -> None:
    webhook = channel(f"{gateway.url}/status/{code}")
    try:
        outcome = await webhook.send(message(), "sms:+4917011")
    finally:
        await webhook.aclose()
    assert outcome == Failed(f"webhook sms: HTTP {code}", retryable=retryable)


async def test_a_redirect_is_not_followed(gateway: Gateway) -> None:
    webhook = channel(gateway.url + "/moved")
    try:
        outcome = await webhook.send(message(), "sms:+4917011")
    finally:
        await webhook.aclose()
    assert outcome == Failed("webhook sms: HTTP 302", retryable=False)
    assert len(gateway.bodies) == 1  # /ok was never asked


async def test_nobody_listening_and_no_answer_are_retryable_with_plain_reasons(
    gateway: Gateway,
) -> None:
    # A port bound but not listening refuses every connection, and nobody else can take it.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    refused = channel(f"http://127.0.0.1:{port}/sms?token=secret-in-url")
    slow = channel(gateway.url + "/slow", timeout=0.3)
    try:
        assert await refused.send(message(), "sms:+4917011") == Failed(
            "webhook sms: cannot connect"
        )
        assert await slow.send(message(), "sms:+4917011") == Failed(
            "webhook sms: no answer in time"
        )
    finally:
        await refused.aclose()
        await slow.aclose()
        closed.close()
