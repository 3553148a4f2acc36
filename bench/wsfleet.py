"""Simulated agents on real WebSockets: hello, pings both ways, receipts, agent-like reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
import uuid
from dataclasses import dataclass
from typing import Any, cast

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from agent.backoff import Backoff, retry_after_seconds
from agent.link import BUSY, URGENT_RETRY_CAP
from bench.fleet import Recorder
from shared.domain import AlarmLevel, Trigger
from shared.protocol import (
    ALARM_WAITING_HEADER,
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    Hello,
    Ping,
    Pong,
    RaiseAlarm,
    Receipt,
    encode,
    utc_now,
)

HANDSHAKE_TIMEOUT = 10.0
"""Longer than the agent's (agent.link.HANDSHAKE_TIMEOUT, 5 s): one load-generator loop
hosts 5,000 agents, and in a storm its own lag would count as hub slowness."""
PING_TICK = 0.1


class StampedConnection(ClientConnection):
    """Notes when bytes last arrived from the hub: the moment a recipient PC has them.

    Thousands of simulated agents share one process here, so the moment a message
    reaches the bench's own task for that agent also counts every other agent's
    work queued before it (receipts sent, messages parsed), which a real PC does
    not wait for. A message is stamped with the last read before it was handed
    over, so never earlier than it arrived. The comparison with the yardsticks
    (``bench.compare``) uses its own raw client, stamped the same way for all three.
    """

    arrived_ns = 0

    def data_received(self, data: bytes) -> None:
        self.arrived_ns = time.monotonic_ns()
        super().data_received(data)


@dataclass(eq=False)
class _Agent:
    ws_id: str
    token: str
    index: int
    ws: ClientConnection | None = None
    seen: set[str] | None = None
    app_pings: bool = True


class WsFleet:
    """N agents in this process. Timestamps are taken before any parsing of a frame's text."""

    def __init__(
        self,
        url: str,
        agents: list[tuple[str, str]],
        heartbeat: float,
        *,
        agent_pings: bool = True,
        receipts: bool = True,
        first_connect_concurrency: int = 100,
        alarm_waiting: frozenset[str] = frozenset(),
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.url = url
        # ssl= only with a context (--tls, wss://): websockets refuses a context for ws://
        # and ssl=None for wss://.
        self.tls_options: dict[str, Any] = {"ssl": tls} if tls else {}
        self.heartbeat = heartbeat
        self.agent_pings = agent_pings
        self.receipts = receipts
        self.rec = Recorder()
        self.agents = [_Agent(w, t, i) for i, (w, t) in enumerate(agents)]
        self.by_id = {a.ws_id: a for a in self.agents}
        self._gate = asyncio.Semaphore(first_connect_concurrency)
        # Raisers reconnect as the agent does with an alarm in its outbox: with the
        # header the hub's admission control lets through, retries at most 2 s apart.
        self.alarm_waiting = alarm_waiting
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(a)) for a in self.agents]
        if self.agent_pings:
            self._tasks.append(asyncio.create_task(self._pinger()))

    async def stop(self) -> None:
        self._stopping.set()
        for agent in self.agents:
            if agent.ws is not None:
                agent.ws.transport.abort()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def tls_in_use(self) -> str | None:
        """The TLS version and cipher of a connected agent ("TLSv1.3 TLS_AES_256_GCM_SHA384"),
        None without TLS or while none is connected: what the memory figure was paid for."""
        for agent in self.agents:
            if agent.ws is not None:
                tls = agent.ws.transport.get_extra_info("ssl_object")
                if tls is None:
                    return None
                cipher = tls.cipher()
                return f"{tls.version()} {cipher[0] if cipher else '?'}"
        return None

    # --- the alarm path -----------------------------------------------------

    async def raise_alarm(self, ws_id: str, level: AlarmLevel) -> str | None:
        """Sends one alarm; None if the raiser is not connected right now."""
        ws = self.by_id[ws_id].ws
        if ws is None:
            return None
        alarm_id = uuid.uuid4()
        text = encode(
            RaiseAlarm(alarm_id=alarm_id, level=level, trigger=Trigger.HOTKEY, raised_at=utc_now())
        )
        key = str(alarm_id)
        self.rec.sent[key] = time.monotonic_ns()
        try:
            await ws.send(text)
        except ConnectionClosed:
            del self.rec.sent[key]
            return None
        return key

    # --- one agent ----------------------------------------------------------

    async def _run(self, agent: _Agent) -> None:
        """Reconnects as agent/link.py does with one hub: its Backoff, Retry-After, 2 s cap."""
        backoff = Backoff()
        first = True
        while not self._stopping.is_set():
            ws: ClientConnection | None = None
            busy_for: float | None = None
            try:
                if first:
                    async with self._gate:
                        ws = await self._open(agent)
                else:
                    ws = await self._open(agent)
                first = False
                backoff.reset()
                await self._session(agent, ws)
            except ConnectionClosed as exc:
                self.rec.errors[f"handshake closed {exc.rcvd.code if exc.rcvd else '-'}"] += 1
            except InvalidStatus as exc:
                status = exc.response.status_code
                self.rec.errors[f"HTTP {status}"] += 1
                if status == BUSY:
                    busy_for = retry_after_seconds(exc.response.headers.get("Retry-After"))
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                self.rec.errors[type(exc).__name__] += 1
            finally:
                if ws is not None:
                    ws.transport.abort()
            if self._stopping.is_set():
                return
            delay = backoff.next_delay() if busy_for is None else backoff.retry_after(busy_for)
            if agent.ws_id in self.alarm_waiting:
                delay = min(delay, URGENT_RETRY_CAP)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _open(self, agent: _Agent) -> StampedConnection:
        # connect() is typed to return a ClientConnection; create_connection makes it ours.
        ws = cast(
            StampedConnection,
            await connect(
                self.url,
                create_connection=StampedConnection,
                max_size=MAX_MESSAGE_BYTES,
                compression=None,
                ping_interval=None,
                open_timeout=HANDSHAKE_TIMEOUT,
                close_timeout=1.0,
                proxy=None,
                **self.tls_options,
                additional_headers={ALARM_WAITING_HEADER: "1"}
                if agent.ws_id in self.alarm_waiting
                else None,
            ),
        )
        try:
            hello = Hello(
                protocol=PROTOCOL_VERSION,
                workstation_id=agent.ws_id,
                token=agent.token,
                agent_version="bench",
            )
            await ws.send(encode(hello))
            raw = await asyncio.wait_for(ws.recv(), HANDSHAKE_TIMEOUT)
            welcome = json.loads(raw)
            if welcome.get("type") != "welcome":
                raise InvalidHandshake(f"expected welcome, got {str(raw)[:80]}")
            # As agent/link.py: ping messages only to a hub that does not ping itself.
            agent.app_pings = welcome.get("keepalive", "app") == "app"
        except BaseException:
            ws.transport.abort()
            raise
        return ws

    async def _session(self, agent: _Agent, ws: StampedConnection) -> None:
        rec = self.rec
        agent.ws = ws
        if agent.seen is None:
            agent.seen = set()
        seen = agent.seen
        rec.welcomed()
        try:
            async for raw in ws:
                at = ws.arrived_ns
                message = json.loads(raw)
                kind = message["type"]
                if kind == "ping":
                    await ws.send(encode(Pong(reply_to=message["id"])))
                elif kind == "alarm_notify":
                    alarm_id = message["alarm_id"]
                    if alarm_id in seen:
                        rec.duplicates += 1
                    else:
                        seen.add(alarm_id)
                        rec.notified(alarm_id, at)
                    if self.receipts:  # the real agent confirms once the popup is up
                        await ws.send(encode(Receipt(alarm_id=uuid.UUID(alarm_id))))
                elif kind == "alarm_stored":
                    rec.stored.setdefault(message["alarm_id"], at)
                elif kind == "error":
                    rec.errors[f"hub error {message.get('code')}"] += 1
        except ConnectionClosed:
            pass
        finally:
            agent.ws = None
            rec.connected -= 1
            if not self._stopping.is_set():
                code = ws.close_code if ws.close_code is not None else "abnormal"
                rec.closes[str(code)] += 1

    async def _pinger(self) -> None:
        """Each agent pings the hub once per heartbeat interval, phases spread evenly."""
        slots = max(1, round(self.heartbeat / PING_TICK))
        tick = 0
        while True:
            await asyncio.sleep(PING_TICK)
            text = encode(Ping())
            for agent in self.agents[tick % slots :: slots]:
                ws = agent.ws
                if ws is not None and agent.app_pings:
                    with contextlib.suppress(ConnectionClosed):
                        await ws.send(text)
            tick += 1
