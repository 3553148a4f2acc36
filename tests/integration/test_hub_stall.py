"""Issue 16: after SIGSTOP and SIGCONT the hub reads what its peers sent before it judges them.

A stopped hub (a VM paused, a debugger, a long swap-in) finds every peer's messages
waiting in its sockets when it runs again, but its overdue timers come due before
it reads them: the console supervision closed a healthy, pinging console with 4504
in 27 of 30 stops. Here a real hub (1 s heartbeat: a console silent for 2.5 s is
closed) is stopped for longer than that, five times, with a console that pings
every interval and an agent connected; after each SIGCONT both must answer a new
ping, which the hub can only do once the moment it judged them has passed. An
agent whose hello waited in the stopped hub's socket longer than the handshake
timeout is welcomed, not closed with 4408.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid

import websockets
from websockets.exceptions import ConnectionClosed

from shared.protocol import MAX_MESSAGE_BYTES, Ping, Pong, Welcome, encode, hub_to_agent
from tests.support.consoleclient import ConsoleClient, connect_console
from tests.support.hub import RunningHub
from tests.support.wsclient import ProtocolClient, agent_hello, connect_agent

STOPS = 5
STOPPED_FOR_INTERVALS = 3.0
"""Longer than a console may be silent (2.5 intervals), whenever its last ping came."""


class Pinging:
    """Reads everything a peer gets (answering the hub's pings) and pings every ``interval``."""

    def __init__(self, client: ProtocolClient, interval: float) -> None:
        self.client = client
        self.interval = interval
        self.pongs: set[str | None] = set()
        self.closed: tuple[int | None, str] | None = None
        self._heard = asyncio.Event()
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._ping())]

    async def _read(self) -> None:
        connection = self.client.connection
        try:
            async for raw in connection:
                message = self.client.channel.validate_json(raw)
                if isinstance(message, Ping):
                    await connection.send(encode(Pong(reply_to=message.id)))
                elif isinstance(message, Pong):
                    self.pongs.add(message.reply_to)
                    self._heard.set()
        except ConnectionClosed:
            pass
        self.closed = (connection.close_code, connection.close_reason or "")
        self._heard.set()

    async def _ping(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await self.client.send(Ping())
                await asyncio.sleep(self.interval)

    async def answered(self, timeout: float = 10.0) -> None:
        """A new ping is answered: the hub has read and served this peer since it was sent."""
        ping = Ping(id=uuid.uuid4().hex)
        with contextlib.suppress(ConnectionClosed):
            await self.client.send(ping)
        async with asyncio.timeout(timeout):
            while ping.id not in self.pongs:
                assert self.closed is None, f"closed by the hub: {self.closed}"
                self._heard.clear()
                await self._heard.wait()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.close()


async def test_a_pinging_console_and_an_agent_survive_the_hub_being_stopped_and_resumed(
    demo_hub: RunningHub,
) -> None:
    config = demo_hub.agent_config("pc-1-02")
    agent = await connect_agent(demo_hub.agent_ws_url, "pc-1-02", config["token"])
    interval = agent.welcome.heartbeat_interval
    console: ConsoleClient = await connect_console(demo_hub)
    peers = [Pinging(console, interval), Pinging(agent, interval)]
    pid = demo_hub.process.pid
    try:
        for peer in peers:
            await peer.answered()
        for _ in range(STOPS):
            os.kill(pid, signal.SIGSTOP)
            try:
                # The stimulus, not a wait for a result: the hub stands still this long.
                await asyncio.sleep(STOPPED_FOR_INTERVALS * interval)
            finally:
                os.kill(pid, signal.SIGCONT)
            for peer in peers:
                await peer.answered()
            # A second round trip: the hub's first turns after the resume are behind it.
            for peer in peers:
                await peer.answered()
    finally:
        for peer in peers:
            await peer.close()


async def test_a_hello_that_waited_in_the_stopped_hub_is_welcomed_not_timed_out(
    demo_hub: RunningHub, demo_hub_env: dict[str, str]
) -> None:
    handshake_timeout = float(demo_hub_env["SILENT_ALARM_HANDSHAKE_TIMEOUT"])
    token = demo_hub.agent_config("pc-1-02")["token"]
    pid = demo_hub.process.pid
    for _ in range(2):
        connection = await websockets.connect(
            demo_hub.agent_ws_url, max_size=MAX_MESSAGE_BYTES, compression=None, open_timeout=5
        )
        try:
            os.kill(pid, signal.SIGSTOP)
            try:
                await connection.send(encode(agent_hello("pc-1-02", token)))
                # The stimulus: the hello waits in the stopped hub's socket past the timeout.
                await asyncio.sleep(handshake_timeout + 1)
            finally:
                os.kill(pid, signal.SIGCONT)
            async with asyncio.timeout(10):
                welcome = hub_to_agent.validate_json(await connection.recv())
            assert isinstance(welcome, Welcome), welcome
        finally:
            await connection.close()
