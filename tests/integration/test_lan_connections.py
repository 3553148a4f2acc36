"""A LAN attacker without a login opens idle TCP connections by the thousand: they are
closed when no request comes, capped per address, and the hub keeps descriptors for
agents — /healthz answers and an agent's waiting alarm is stored meanwhile.

The hub is started with a soft open-file limit of 1,024 (a distribution's usual
default), as a service manager may leave it; the attacker stays at 2,000 sockets,
far below this machine's limits, which the previous hub did not survive.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from shared.protocol import Ping, Pong
from tests.support.agentlink import link_with_an_alarm_waiting
from tests.support.hub import RunningHub, start_demo_hub
from tests.support.lan_attacker import attacker_socket
from tests.support.wsclient import connect_agent

PER_ADDRESS = 500
IDLE_SOCKETS = 2000
SOFT_LIMIT = 1024
REQUEST_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(SOFT_LIMIT, soft), hard))  # inherited
    try:
        running = start_demo_hub(
            tmp_path_factory.mktemp("hub"),
            env={
                "SILENT_ALARM_MAX_CONNECTIONS_PER_ADDRESS": str(PER_ADDRESS),
                "SILENT_ALARM_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT_S),
                "SILENT_ALARM_HEARTBEAT_INTERVAL": "2",
            },
        )
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    yield running
    running.stop()


def nofile_limits(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/limits", encoding="ascii") as limits:
        for line in limits:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no open-files line")


def closed_by_hub(sock: socket.socket, timeout: float) -> bytes | None:
    """What the hub sent before closing, or None if it kept the socket open that long."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return None
    except ConnectionError:
        pass
    return received


def test_the_hub_raises_its_open_file_limit_to_the_hard_limit(hub: RunningHub) -> None:
    soft, hard = nofile_limits(hub.process.pid)
    assert soft == hard, (soft, hard)


@pytest.mark.parametrize("sent", [b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"])
def test_a_connection_without_a_complete_request_head_is_closed(
    hub: RunningHub, sent: bytes
) -> None:
    """Silent after connecting, or stalled in the middle of its headers (slowloris)."""
    with attacker_socket(hub.port) as sock:
        sock.sendall(sent)
        started = time.monotonic()
        assert closed_by_hub(sock, timeout=REQUEST_TIMEOUT_S + 10) is not None, "still open"
        assert time.monotonic() - started >= REQUEST_TIMEOUT_S - 0.5  # not before its time


def open_idle_sockets(port: int, count: int) -> list[socket.socket]:
    """``count`` connections from the attacker's address that never send a byte."""
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: attacker_socket(port, timeout=10), range(count)))


def answers_within(sockets: list[socket.socket], timeout: float) -> list[bytes | None]:
    """What the hub sent each socket before closing it, None for those still open after
    ``timeout`` (one deadline for all)."""
    deadline = time.monotonic() + timeout
    return [closed_by_hub(sock, max(0.01, deadline - time.monotonic())) for sock in sockets]


async def test_thousands_of_idle_connections_leave_healthz_and_alarms_working(
    hub: RunningHub, tmp_path: Path
) -> None:
    sockets = await asyncio.to_thread(open_idle_sockets, hub.port, IDLE_SOCKETS)
    try:
        # While the attacker holds its connections, the hub serves everyone else.
        async with httpx.AsyncClient(timeout=5) as client:
            assert (await client.get(f"{hub.url}/healthz")).status_code == 200
        async with link_with_an_alarm_waiting(hub, tmp_path) as (link, events):
            link.start()
            assert await asyncio.to_thread(events.stored.wait, 10), "alarm not stored"

        # Over its cap the attacker's address was answered 503 at once; the ones let in
        # (the cap's worth, and more as the request timeout freed their places) were
        # closed for sending nothing.
        answers = await asyncio.to_thread(answers_within, sockets, REQUEST_TIMEOUT_S + 15)
        assert None not in answers, "idle connections still open"
        refused = sum(answer.startswith(b"HTTP/1.1 503") for answer in answers if answer)
        assert refused >= IDLE_SOCKETS - 2 * PER_ADDRESS, refused
    finally:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()
    log = hub.log()
    assert "connections_refused" in log
    assert "idle_connections_closed" in log


async def test_an_agent_connection_outlives_the_request_timeout(hub: RunningHub) -> None:
    """The head timer ends with the upgrade: an agent connected together with an idle
    socket is still served after the hub closed the idle one."""
    config = hub.agent_config("pc-1-02")
    agent = await connect_agent(hub.agent_ws_url, "pc-1-02", config["token"], config["user"])
    try:
        with attacker_socket(hub.port) as idle:
            assert await asyncio.to_thread(closed_by_hub, idle, REQUEST_TIMEOUT_S + 10) == b""
        ping = Ping()
        await agent.send(ping)
        assert (await agent.expect(Pong, timeout=5)).reply_to == ping.id
    finally:
        await agent.close()


def test_a_body_that_stops_arriving_is_answered_408_and_closed(hub: RunningHub) -> None:
    """Headers complete, then ten bytes of a hundred and silence (a slow-body attack)."""
    with attacker_socket(hub.port) as sock:
        sock.sendall(
            b"POST /api/v1/enrol HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n" + b'{"code": "'
        )
        answer = closed_by_hub(sock, timeout=REQUEST_TIMEOUT_S + 10)
    assert answer is not None, "still open"
    assert answer.startswith(b"HTTP/1.1 408")
