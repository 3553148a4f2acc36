"""A restart storm: handshakes over the limit and the queue get 503 before the upgrade, with a
Retry-After that spreads them at the hub's own pace; agents follow it; alarms always get in.

Here the hub has no queue (``MAX_QUEUED_HANDSHAKES=0``), so every upgrade over the limit
is refused at once and the refusals can be counted; the queue in front of them has its
own tests (test_admission_queue.py)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import websockets
from pydantic import SecretStr
from websockets.exceptions import InvalidStatus

from agent.backoff import Backoff
from agent.link import Link, LinkEvents
from agent.outbox import Outbox
from shared.domain import AlarmLevel
from shared.protocol import (
    ALARM_WAITING_HEADER,
    PROTOCOL_VERSION,
    AlarmNotify,
    AlarmStored,
    CloseCode,
    Hello,
    Welcome,
    encode,
)
from tests.support.agentlink import link_with_an_alarm_waiting
from tests.support.hub import RunningHub, start_demo_hub
from tests.support.operators import API, api_client
from tests.support.wsclient import AgentClient, connect_agent, wait_closed


@pytest.fixture
def one_handshake_hub(tmp_path: Path, demo_template: Path) -> Iterator[RunningHub]:
    """A hub that works on one handshake at a time and queues none; a silent client holds
    that slot 30 s."""
    hub = start_demo_hub(
        tmp_path / "hub",
        env={
            "SILENT_ALARM_MAX_HANDSHAKES": "1",
            "SILENT_ALARM_MAX_QUEUED_HANDSHAKES": "0",
            "SILENT_ALARM_HANDSHAKE_TIMEOUT": "30",
        },
        template=demo_template,
    )
    yield hub
    hub.stop()


async def connect(
    hub: RunningHub, workstation_id: str, headers: dict[str, str] | None = None
) -> AgentClient:
    config = hub.agent_config(workstation_id)
    return await connect_agent(
        hub.agent_ws_url, workstation_id, config["token"], config["user"], headers=headers
    )


@asynccontextmanager
async def holding_the_slot(hub: RunningHub) -> AsyncIterator[websockets.ClientConnection]:
    """Upgraded but no hello: the hub's one slot stays taken until its hello timeout.

    A client that just got its welcome may still hold the slot for its replay
    read, so the first tries may be refused; they are retried for up to 5 s.
    """
    async with asyncio.timeout(5):
        while True:
            try:
                connection = await websockets.connect(hub.agent_ws_url)
                break
            except InvalidStatus:
                await asyncio.sleep(0.05)
    async with connection:
        yield connection


async def test_handshakes_over_the_limit_get_503_and_the_slot_frees_again(
    one_handshake_hub: RunningHub,
) -> None:
    hub = one_handshake_hub
    async with holding_the_slot(hub) as silent:
        with pytest.raises(InvalidStatus) as refused:
            await connect(hub, "pc-1-02")
        assert refused.value.response.status_code == 503
        assert refused.value.response.headers["Retry-After"] == "1"
        assert b"retry" in refused.value.response.body
        await silent.close()
    async with holding_the_slot(hub):  # free again once the hub saw the close
        pass
    assert "handshakes_refused" in hub.log()
    assert "without completing handshake" not in hub.log()  # a 503 is no server error


async def test_an_agent_with_an_alarm_waiting_is_let_in_and_its_alarm_delivered(
    one_handshake_hub: RunningHub,
) -> None:
    hub = one_handshake_hub
    neighbour = await connect(hub, "pc-1-02")  # in before the slot is taken
    async with holding_the_slot(hub):
        raiser = await connect(hub, "pc-1-01", headers={ALARM_WAITING_HEADER: "1"})
        sent = await raiser.raise_alarm(AlarmLevel.THREAT)
        assert (await raiser.expect(AlarmStored)).alarm_id == sent.alarm_id
        await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id)
        await raiser.close()
    await neighbour.close()


async def test_the_agent_says_it_has_an_alarm_waiting_and_gets_in_at_once(
    one_handshake_hub: RunningHub, tmp_path: Path
) -> None:
    """The real agent link: while the hub refuses everyone else, its queued alarm is stored."""
    hub = one_handshake_hub
    async with (
        holding_the_slot(hub),  # for 30 s unless the agent is let in regardless
        link_with_an_alarm_waiting(hub, tmp_path) as (link, events),
    ):
        link.start()
        assert await asyncio.to_thread(events.stored.wait, 10), "alarm not let in"


async def test_a_failed_replay_read_unregisters_the_agent_and_says_so(demo_hub: RunningHub) -> None:
    """The welcome went out, then the store failed: the PC must not stay "online" unserved."""
    token = demo_hub.agent_config("pc-1-02")["token"]
    with sqlite3.connect(demo_hub.data_dir / "dispatch.sqlite3") as db:  # the replay reads it
        db.execute("ALTER TABLE alarm_recipients RENAME TO alarm_recipients_away")
    try:
        async with websockets.connect(demo_hub.agent_ws_url) as ws:
            await ws.send(encode(Hello(protocol=PROTOCOL_VERSION, workstation_id="pc-1-02",
                                       token=token, agent_version="t")))  # fmt: skip
            code, reason = await wait_closed(ws)
        assert code == CloseCode.INTERNAL_ERROR
        assert "reconnect" in reason
    finally:
        with sqlite3.connect(demo_hub.data_dir / "dispatch.sqlite3") as db:
            db.execute("ALTER TABLE alarm_recipients_away RENAME TO alarm_recipients")
    with api_client(demo_hub, demo_hub.login.username, demo_hub.login.password) as guard:
        listed = guard.get(f"{API}/workstations").json()
    assert [w["online"] for w in listed if w["id"] == "pc-1-02"] == [False]


async def retry_after_of_a_refusal(hub: RunningHub) -> int:
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(hub.agent_ws_url)
    assert refused.value.response.status_code == 503
    return int(refused.value.response.headers["Retry-After"])


async def refused_crowd(hub: RunningHub, count: int) -> list[int]:
    """The Retry-After each of ``count`` agents arriving together is told, sorted."""
    return sorted(await asyncio.gather(*(retry_after_of_a_refusal(hub) for _ in range(count))))


async def test_refused_agents_are_spread_over_the_seconds_the_hub_needs(
    one_handshake_hub: RunningHub,
) -> None:
    """Nothing measured yet: one slot turns over ten times a second (SLOT_TURNOVER_S), so a
    crowd of 60 is sent back over six seconds, ten to a second, not all at once."""
    hub = one_handshake_hub
    async with holding_the_slot(hub):
        waits = await refused_crowd(hub, 60)
    assert waits[0] == 1
    assert waits[-1] >= 4
    assert max(Counter(waits).values()) <= 10


async def test_a_hub_completing_handshakes_quickly_sends_the_refused_back_sooner(
    one_handshake_hub: RunningHub,
) -> None:
    """The same crowd after 40 handshakes done together: the measured rate, not the slot's."""
    hub = one_handshake_hub
    ids = ["pc-1-01", "pc-1-02", "pc-1-03", "pc-1-04", "pc-1-05"]
    waiting = {ALARM_WAITING_HEADER: "1"}  # let in past the one slot: none is refused here
    agents = await asyncio.gather(*(connect(hub, ids[i % 5], headers=waiting) for i in range(40)))
    for agent in agents:
        await agent.close()
    async with holding_the_slot(hub):
        waits = await refused_crowd(hub, 60)
    assert waits[-1] <= 2, waits  # ten a second would take six


class Welcomed(LinkEvents):
    def __init__(self) -> None:
        self.connected_event = threading.Event()

    def connected(self, welcome: Welcome) -> None:
        self.connected_event.set()


@asynccontextmanager
async def agent_link(
    hub: RunningHub, tmp_path: Path, backoff: Backoff
) -> AsyncIterator[tuple[Link, Welcomed]]:
    """The real agent link of pc-1-02, not started yet; stopped and its outbox closed after."""
    config = hub.agent_config("pc-1-02")
    outbox = Outbox(tmp_path / "outbox")
    events = Welcomed()
    link = Link(
        hub_urls=[hub.agent_ws_url],
        workstation_id="pc-1-02",
        token=SecretStr(config["token"]),
        user=config["user"],
        outbox=outbox,  # empty: no alarm waiting, so the agent is refused like the crowd
        events=events,
        backoff=backoff,
    )
    try:
        yield link, events
    finally:
        await asyncio.to_thread(link.stop)
        outbox.close()


async def told_to_retry_after(caplog: pytest.LogCaptureFixture) -> int:
    """The Retry-After the agent link logged for its first refusal (bounded wait)."""
    async with asyncio.timeout(10):
        while True:
            for record in list(caplog.records):
                if record.name == "agent.link" and "busy: retry after" in record.getMessage():
                    return int(record.getMessage().rsplit(" ", 2)[-2])
            await asyncio.sleep(0.02)


async def test_the_agent_comes_back_when_the_busy_hub_says_not_after_its_backoff(
    one_handshake_hub: RunningHub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The real link with a 15 s backoff floor returns after the hub's 1 s (plus jitter)."""
    caplog.set_level(logging.INFO, logger="agent.link")
    hub = one_handshake_hub
    async with agent_link(hub, tmp_path, Backoff(floor=15.0, cap=20.0)) as (link, events):
        async with holding_the_slot(hub):
            link.start()
            assert await told_to_retry_after(caplog) == 1
        assert link._backoff.attempt == 0  # a busy hub is no failure: the backoff did not grow
        # 1–2 s, or one more refusal if the slot was not free yet; the backoff alone: ≥ 15 s.
        assert await asyncio.to_thread(events.connected_event.wait, 8), "not back in time"


async def test_the_agent_waits_no_longer_than_its_own_retry_after_cap(
    one_handshake_hub: RunningHub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Told to come back in 10 s or more, an agent that follows a Retry-After up to 2 s
    tries again after 2 s (agent/backoff.py: ``retry_after_cap``, 20 s when shipped)."""
    caplog.set_level(logging.INFO, logger="agent.link")
    hub = one_handshake_hub
    backoff = Backoff(floor=0.5, cap=2.0, retry_after_cap=2.0)
    async with agent_link(hub, tmp_path, backoff) as (link, events):
        async with holding_the_slot(hub):
            await refused_crowd(hub, 200)  # refused before it: their slots come first
            link.start()
            assert await told_to_retry_after(caplog) >= 10
        assert await asyncio.to_thread(events.connected_event.wait, 6), "waited past its cap"
