"""A LAN attacker without a login opens agent WebSockets that never send a hello, some
claiming an alarm waiting: real agents still get in, and an alarm is never delayed.

Before, ~70 such sockets kept the handshake gate full: 0 of 27 reconnecting agents
were admitted in 40 s, and the "alarm waiting" header let anyone past the gate.
The attacker uses 127.0.0.2, the agents 127.0.0.1 (tests/support/lan_attacker.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from dispatch.directory.credentials import new_device_token
from dispatch.directory.site_setup import room_by_number
from dispatch.directory.workstations import add_workstation
from dispatch.store import audit_key
from dispatch.store.database import Database
from shared.protocol import (
    ALARM_WAITING_HEADER,
    PROTOCOL_VERSION,
    CloseCode,
    Hello,
    Welcome,
    encode,
    hub_to_agent,
)
from tests.support.agentlink import link_with_an_alarm_waiting
from tests.support.agentproc import RunningAgent, start_agent
from tests.support.hub import RunningHub, start_demo_hub
from tests.support.lan_attacker import ATTACKER_ADDRESS
from tests.support.waiting import until
from tests.support.wsclient import AgentClient, connect_agent, wait_closed
from tests.support.xserver import XServer, wait_for_window

ATTACK_SOCKETS = 70
CLAIMING = 10  # of them send "X-Silent-Alarm-Waiting: 1"
AGENTS = 27  # 26 stand-in clients and the real agent link with an alarm waiting
ADMITTED_SHARE = 0.8
ADMISSION_BOUND_S = 20.0
EXTRA_IDS = [f"pc-2-{n:02d}" for n in range(1, 22)]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """The hub with its shipped admission settings, and 27 workstations."""
    running = start_demo_hub(tmp_path_factory.mktemp("hub"))
    try:
        asyncio.run(add_workstations(running, EXTRA_IDS))
        yield running
    finally:
        running.stop()


TOKENS: dict[str, str] = {}


async def add_workstations(hub: RunningHub, ids: list[str]) -> None:
    """More PCs in room 1.03, as an admin adds them; their tokens kept for the test."""
    db = Database(
        f"sqlite+aiosqlite:///{hub.data_dir / 'dispatch.sqlite3'}",
        audit_key=audit_key.load(hub.data_dir / "audit.key"),  # audited like the admin's
    )
    try:
        room = await room_by_number(db, 1, "1.03")
        for workstation_id in ids:
            TOKENS[workstation_id] = token = new_device_token()
            await add_workstation(db, "test", workstation_id, 1, room, token)
    finally:
        await db.dispose()


def token_of(hub: RunningHub, workstation_id: str) -> str:
    return TOKENS.get(workstation_id) or str(hub.agent_config(workstation_id)["token"])


@dataclass
class HelloLessAttack:
    """Sockets upgraded from the attacker's address that never say hello; each one the
    hub closes or refuses is opened again (refusals after half a second: the attack is
    bounded in rate, and the hub refuses before the upgrade)."""

    url: str
    open: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def socket_loop(self, claim: bool) -> None:
        headers = {ALARM_WAITING_HEADER: "1"} if claim else None
        while not self.stop.is_set():
            try:
                connection = await websockets.connect(
                    self.url,
                    additional_headers=headers,
                    local_addr=(ATTACKER_ADDRESS, 0),
                    open_timeout=5,
                    ping_interval=None,
                )
            except (InvalidStatus, OSError, TimeoutError, websockets.WebSocketException):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), 0.5)
                continue
            self.open += 1
            try:
                await self._held(connection)
            finally:
                self.open -= 1

    async def _held(self, connection: ClientConnection) -> None:
        stopped = asyncio.ensure_future(self.stop.wait())
        closed = asyncio.ensure_future(connection.wait_closed())
        await asyncio.wait({stopped, closed}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        closed.cancel()
        await connection.close()


@asynccontextmanager
async def hello_less_attack(hub: RunningHub) -> AsyncIterator[HelloLessAttack]:
    attack = HelloLessAttack(hub.agent_ws_url)
    loops = [
        asyncio.ensure_future(attack.socket_loop(claim=i < CLAIMING)) for i in range(ATTACK_SOCKETS)
    ]
    try:
        # Under way: the attacker holds what the hub lets it hold (all 64 slots, before).
        await until(lambda: attack.open >= 16, timeout=15, what="the attack holding sockets")
        yield attack
    finally:
        attack.stop.set()
        async with asyncio.timeout(30):
            await asyncio.gather(*loops)


async def reconnecting_agent(
    hub: RunningHub, workstation_id: str, admitted: dict[str, AgentClient], deadline: float
) -> None:
    """An agent coming back after a hub restart: on 503 it returns after Retry-After
    (with jitter, capped at 5 s as an agent's backoff cap would)."""
    while time.monotonic() < deadline:
        try:
            admitted[workstation_id] = await connect_agent(
                hub.agent_ws_url, workstation_id, token_of(hub, workstation_id)
            )
            return
        except InvalidStatus as refused:
            wait = min(int(refused.response.headers.get("Retry-After", "1")), 5)
            await asyncio.sleep(wait * random.uniform(1.0, 1.3))  # the agent's backoff
        except (OSError, TimeoutError, websockets.WebSocketException, AssertionError):
            await asyncio.sleep(1.0)  # the agent's backoff after a failed attempt


async def test_agents_reconnect_and_an_alarm_is_stored_at_once_during_the_attack(
    hub: RunningHub, tmp_path: Path
) -> None:
    ids = [w for w in ("pc-e-01", "pc-1-02", "pc-1-03", "pc-1-04", "pc-1-05", *EXTRA_IDS)]
    assert len(ids) == AGENTS - 1
    admitted: dict[str, AgentClient] = {}
    async with hello_less_attack(hub), link_with_an_alarm_waiting(hub, tmp_path) as (link, ev):
        deadline = time.monotonic() + ADMISSION_BOUND_S
        crowd = [asyncio.ensure_future(reconnecting_agent(hub, w, admitted, deadline)) for w in ids]
        started = time.monotonic()
        link.start()
        stored = await asyncio.to_thread(ev.stored.wait, 10)
        took = time.monotonic() - started
        try:
            needed = int(AGENTS * ADMITTED_SHARE + 0.999) - 1  # the link's agent is in
            await until(
                lambda: len(admitted) >= needed,
                timeout=ADMISSION_BOUND_S + 5,
                what=f"{needed} of {AGENTS - 1} agents admitted",
            )
            print(
                f"during the attack: waiting alarm stored after {took * 1000:.0f} ms,"
                f" {len(admitted)} of {AGENTS - 1} agents in after"
                f" {time.monotonic() - started:.1f} s"
            )
        finally:
            for task in crowd:
                task.cancel()
            # Awaited, so a connection a task was opening is closed now, not left to the
            # garbage collector (a ResourceWarning in some later test).
            await asyncio.gather(*crowd, return_exceptions=True)
            for client in admitted.values():
                await client.close()
        assert stored, "the waiting alarm was not stored"
        assert took <= 1.0, f"the waiting alarm took {took:.2f} s"
    assert "alarm_claim_failed" in hub.log()  # the claiming sockets cost 127.0.0.2 its priority


async def test_a_socket_without_hello_is_closed_quickly(hub: RunningHub) -> None:
    """Real agents send their hello right after the upgrade; a silent socket gives its
    slot back within the hello timeout (3 s), with the 4408 and its reason."""
    async with websockets.connect(hub.agent_ws_url, local_addr=(ATTACKER_ADDRESS, 0)) as silent:
        started = time.monotonic()
        code, reason = await wait_closed(silent, timeout=15)
    assert code == CloseCode.HANDSHAKE_TIMEOUT
    assert "hello expected within 3 s" in reason
    assert time.monotonic() - started < 5


async def test_an_employees_hotkey_reaches_the_neighbour_during_the_attack(
    hub: RunningHub, xservers: Callable[..., XServer], agents: list[RunningAgent]
) -> None:
    """Two real agent processes on their X displays start while the attack runs: both get
    in, and Strg+Alt+P in room 1.04 puts the popup on the screen in 1.05 within a second."""
    raiser_x, neighbour_x = xservers(), xservers()
    async with hello_less_attack(hub):
        raiser = start_agent(hub.agent_config_path("pc-1-04"), raiser_x)
        neighbour = start_agent(hub.agent_config_path("pc-1-05"), neighbour_x)
        agents += [raiser, neighbour]
        for agent in (raiser, neighbour):
            await asyncio.to_thread(agent.wait_for_log, "connected to hub .* room 1.0", 30)
            await asyncio.to_thread(agent.wait_for_log, "hotkey listening", 30)
        pressed = time.monotonic()
        await asyncio.to_thread(raiser_x.xdotool, "key", "ctrl+alt+p")
        await asyncio.to_thread(wait_for_window, neighbour_x.display, "^Stiller Alarm – Raum 1.04$")
        took = time.monotonic() - pressed
        await asyncio.to_thread(raiser.wait_for_log, r"alarm stored ")
    print(f"hotkey -> neighbour popup during the attack: {took * 1000:.0f} ms")
    assert took <= 1.0, f"popup after {took:.2f} s"


# --- the alarm claim: priority only for sockets that then authenticate --------------------


@pytest.fixture
def one_slot_hub(tmp_path: Path, demo_template: Path) -> Iterator[RunningHub]:
    hub = start_demo_hub(
        tmp_path / "hub",
        env={"SILENT_ALARM_MAX_HANDSHAKES": "1", "SILENT_ALARM_HANDSHAKE_TIMEOUT": "30"},
        template=demo_template,
    )
    yield hub
    hub.stop()


async def claim(hub: RunningHub, source: str, workstation_id: str, token: str) -> ClientConnection:
    """An upgrade claiming an alarm waiting from ``source``, then a hello with ``token``."""
    connection = await websockets.connect(
        hub.agent_ws_url,
        additional_headers={ALARM_WAITING_HEADER: "1"},
        local_addr=(source, 0),
        open_timeout=5,
    )
    hello = Hello(
        protocol=PROTOCOL_VERSION, workstation_id=workstation_id, token=token, agent_version="t"
    )
    await connection.send(encode(hello))
    return connection


async def test_a_false_alarm_claim_costs_its_address_the_priority(
    one_slot_hub: RunningHub,
) -> None:
    hub = one_slot_hub
    token = token_of(hub, "pc-1-02")
    # The one slot held by a silent socket from a third address, for 30 s.
    async with websockets.connect(hub.agent_ws_url, local_addr=("127.0.0.3", 0)):
        liar = await claim(hub, ATTACKER_ADDRESS, "pc-1-02", "wrong-token")
        code, _ = await wait_closed(liar)
        assert code == CloseCode.UNAUTHORIZED
        with pytest.raises(InvalidStatus) as refused:  # even with a good token, now
            await claim(hub, ATTACKER_ADDRESS, "pc-1-02", token)
        assert refused.value.response.status_code == 503
        assert "Retry-After" in refused.value.response.headers
        # Another address keeps its priority: the alarm gets in past the full gate.
        honest = await claim(hub, "127.0.0.1", "pc-1-02", token)
        async with asyncio.timeout(5):
            assert isinstance(hub_to_agent.validate_json(await honest.recv()), Welcome)
        await honest.close()
    assert "alarm_claim_failed" in hub.log()
