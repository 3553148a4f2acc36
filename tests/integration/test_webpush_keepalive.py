"""The sender process keeps its connections to a push service open between pushes.

A client per push opened a TCP connection, and at a real push service (FCM, Mozilla,
WNS, Apple) a TLS handshake, for every push: in a burst of alarms to many guards'
phones that was the sender's largest cost after the encryption. The transmitter now has
one aiohttp client for the process; ``aclose`` (the sender's stop) ends it. Against the
tests' RFC 8030 receiver, which keeps connections alive as a push service does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from py_vapid import Vapid02

from dispatch.channels.base import ChannelKind, Job, Sent
from dispatch.channels.content import probe_message
from dispatch.channels.push_endpoints import EndpointPolicy
from dispatch.channels.push_subscriptions import Target
from dispatch.channels.webpush import PushConfig, PushPlan, WebPushTransmitter
from dispatch.settings import PUSH_SERVICE_HOSTS
from tests.support.push_receiver import PushReceiver, b64url


@pytest.fixture
def receiver() -> Iterator[PushReceiver]:
    running = PushReceiver()
    try:
        yield running
    finally:
        running.close()


def push_to(receiver: PushReceiver) -> Job:
    browser = receiver.subscription()
    target = Target(1, browser.endpoint, browser.p256dh, b64url(browser.auth))
    message = probe_message(str(uuid.uuid4()), "Wache")
    return Job(ChannelKind.WEBPUSH, message, "operator:1", PushPlan((target,), b'{"kind":"test"}'))


async def test_pushes_share_one_kept_connection_until_the_sender_stops(
    receiver: PushReceiver,
) -> None:
    key = Vapid02()
    key.generate_keys()
    policy = EndpointPolicy(PUSH_SERVICE_HOSTS, test_origin=receiver.origin)
    transmitter = WebPushTransmitter(key, PushConfig("mailto:wache@amt.example", 600, policy))
    try:
        for _ in range(3):  # one after the other, as a sender's rounds come
            sent = await transmitter.transmit(push_to(receiver))
            assert isinstance(sent.outcome, Sent)
    finally:
        await transmitter.aclose()
    received = receiver.received()
    assert [push.status for push in received] == [201, 201, 201]
    assert len({push.peer for push in received}) == 1  # one TCP connection for all three

    try:  # after a stop, a new client and a new connection
        sent = await transmitter.transmit(push_to(receiver))
        assert isinstance(sent.outcome, Sent)
    finally:
        await transmitter.aclose()
    assert receiver.received()[-1].peer != received[0].peer
