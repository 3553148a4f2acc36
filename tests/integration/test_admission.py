"""A restart storm: handshakes over the limit get 503 before the upgrade; alarms always get in."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import websockets
from pydantic import SecretStr
from websockets.exceptions import InvalidStatus

from agent.link import Link, LinkEvents
from agent.outbox import Outbox
from shared.domain import AlarmLevel, Trigger
from shared.protocol import (
    ALARM_WAITING_HEADER,
    PROTOCOL_VERSION,
    AlarmNotify,
    AlarmStored,
    CloseCode,
    Hello,
    RaiseAlarm,
    encode,
    utc_now,
)
from tests.api.conftest import API, api_client
from tests.support.hub import RunningHub, start_demo_hub
from tests.support.wsclient import AgentClient, connect_agent, wait_closed


@pytest.fixture
def one_handshake_hub(tmp_path: Path) -> Iterator[RunningHub]:
    """A hub that works on one handshake at a time; a silent client holds that slot 30 s."""
    hub = start_demo_hub(
        tmp_path / "hub",
        env={"SILENT_ALARM_MAX_HANDSHAKES": "1", "SILENT_ALARM_HANDSHAKE_TIMEOUT": "30"},
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


class StoredEvent(LinkEvents):
    def __init__(self) -> None:
        self.stored = threading.Event()

    def alarm_stored(self, stored: AlarmStored) -> None:
        self.stored.set()


async def test_the_agent_says_it_has_an_alarm_waiting_and_gets_in_at_once(
    one_handshake_hub: RunningHub, tmp_path: Path
) -> None:
    """The real agent link: while the hub refuses everyone else, its queued alarm is stored."""
    hub = one_handshake_hub
    config = hub.agent_config("pc-1-01")
    outbox = Outbox(tmp_path / "outbox")
    outbox.add(
        RaiseAlarm(
            alarm_id=uuid.uuid4(), level=AlarmLevel.THREAT, trigger=Trigger.CLI, raised_at=utc_now()
        )
    )
    async with holding_the_slot(hub):  # for 30 s unless the agent is let in regardless
        link = Link(
            hub_urls=[hub.agent_ws_url],
            workstation_id="pc-1-01",
            token=SecretStr(config["token"]),
            user=config["user"],
            outbox=outbox,
            events=(events := StoredEvent()),
        )
        link.start()
        try:
            assert await asyncio.to_thread(events.stored.wait, 10), "alarm not let in"
        finally:
            await asyncio.to_thread(link.stop)
            outbox.close()


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
