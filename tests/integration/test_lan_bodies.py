"""A LAN attacker without a login sends huge request bodies: each is refused with 413 before
it is read, the 422 of a bad one echoes nothing, and alarms are stored as fast as ever."""

from __future__ import annotations

import asyncio
import json
import statistics
import time

import httpx

from shared.domain import AlarmLevel
from shared.protocol import AlarmStored
from tests.integration.conftest import Connect
from tests.support.hub import RunningHub
from tests.support.lan_attacker import (
    body_of,
    chunked,
    peak_rss_bytes,
    post_head,
    stream_request,
)

BODY_BYTES = 100 * 1024 * 1024
ENROL = "/api/v1/enrol"


def huge_enrolment() -> tuple[bytes, list[bytes]]:
    """A 100 MB JSON enrolment whose code is far too long: today's hub would read it all,
    parse it and echo it in its 422. Made piece by piece, never held whole."""
    prefix = b'{"code": "'
    suffix = b'", "hostname": "pc", "agent_version": "1"}'
    filler = BODY_BYTES - len(prefix) - len(suffix)
    head = post_head(ENROL, {"Content-Type": "application/json", "Content-Length": str(BODY_BYTES)})
    return head, [prefix, *body_of(filler), suffix]


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


async def test_a_100_mb_anonymous_body_is_refused_unread_while_alarms_stay_fast(
    demo_hub: RunningHub, agent: Connect
) -> None:
    raiser = await agent("pc-1-01")
    rss_before = peak_rss_bytes(demo_hub.process.pid)

    def attack() -> list[tuple[int | None, int]]:
        """Three 100 MB enrolments, one after the other; what each was answered and how
        much of its body had been sent by then."""
        results = []
        for _ in range(3):
            head, body = huge_enrolment()
            refused = stream_request(demo_hub.port, head, body)
            results.append((refused.status, refused.sent))
        return results

    attacker = asyncio.ensure_future(asyncio.to_thread(attack))
    waits: list[float] = []
    async with asyncio.timeout(120):
        while not attacker.done() or len(waits) < 200:
            started = time.perf_counter()
            sent = await raiser.raise_alarm(AlarmLevel.SUPPORT)
            await raiser.expect(AlarmStored, timeout=30, alarm_id=sent.alarm_id)
            waits.append(time.perf_counter() - started)
    answers = await attacker

    print(
        f"stored-ack during 100 MB bodies: {len(waits)} alarms, p50"
        f" {statistics.median(waits) * 1000:.1f} ms, p99 {p99(waits) * 1000:.1f} ms;"
        f" body sent when answered: {[sent for _, sent in answers]} bytes"
    )
    for status, sent_bytes in answers:
        assert status == 413
        assert sent_bytes < BODY_BYTES // 5, f"answered only after {sent_bytes} bytes"
    grown = peak_rss_bytes(demo_hub.process.pid) - rss_before
    assert grown < 30 * 1024 * 1024, f"the hub's memory grew by {grown} bytes"
    assert p99(waits) <= 0.100, f"stored-ack p99 {p99(waits) * 1000:.0f} ms meanwhile"


async def test_a_chunked_body_is_cut_at_the_routes_limit(demo_hub: RunningHub) -> None:
    """No Content-Length to check up front: the hub counts while it reads and stops."""
    head = post_head(ENROL, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    refused = await asyncio.to_thread(
        stream_request, demo_hub.port, head, chunked(body_of(BODY_BYTES))
    )
    assert refused.status == 413
    assert b"larger than" in refused.answer
    # Whatever the kernel's socket buffers took before the answer, not the body.
    assert refused.sent < BODY_BYTES // 5, refused.sent
    assert "request_bodies_refused" in demo_hub.log()


async def test_the_floor_plan_upload_keeps_its_larger_limit(demo_hub: RunningHub) -> None:
    """A 1 MB plan reaches the route (which wants a session: 401), a 6 MB one does not."""
    async with httpx.AsyncClient(base_url=demo_hub.url, timeout=30) as client:
        small = await client.put(
            "/api/v1/floors/1/plan", files={"file": ("p.png", b"x" * 1024 * 1024)}
        )
    assert small.status_code == 401
    size = 6 * 1024 * 1024
    head = post_head(
        "/api/v1/floors/1/plan",
        {"Content-Type": "multipart/form-data; boundary=b", "Content-Length": str(size)},
    ).replace(b"POST", b"PUT", 1)
    large = await asyncio.to_thread(stream_request, demo_hub.port, head, body_of(size))
    assert large.status == 413


async def test_a_rejected_input_is_not_echoed(demo_hub: RunningHub) -> None:
    marker = "ECHO-ME-" + "x" * 80  # over the code's 64 characters
    async with httpx.AsyncClient(base_url=demo_hub.url, timeout=10) as client:
        answer = await client.post(
            ENROL, json={"code": marker, "hostname": "pc", "agent_version": "1"}
        )
    assert answer.status_code == 422
    assert "ECHO-ME" not in answer.text
    detail = json.loads(answer.text)["detail"]
    assert detail[0]["loc"] == ["body", "code"]
    assert detail[0]["msg"]  # what is wrong and where is still said


async def test_the_anonymous_login_form_is_bounded_too(demo_hub: RunningHub) -> None:
    size = 64 * 1024  # a login form is a few hundred bytes
    head = post_head(
        "/login",
        {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(size)},
    )
    refused = await asyncio.to_thread(stream_request, demo_hub.port, head, body_of(size))
    assert refused.status == 413
