"""Raw-protocol agents that behave as the tray agent does around a fault, and record everything.

Each one keeps an outbox (an alarm stays in it until ``alarm_stored``, and every new
connection sends all of it again), re-sends an alarm the hub answered ``internal`` on
the same connection with the agent's own rule (agent/resend.py, 0.25 s doubling to
2 s), treats a hub silent for two heartbeat intervals as gone (agent/link.py), and
reconnects with the agent's backoff (agent/backoff.py), at most 2 s apart while an
alarm waits. As a recipient it confirms every popup with a ``Receipt`` and applies
the popup rule of agent/popup.py: one popup per alarm id, never shown again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import cast

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from agent.backoff import Backoff, retry_after_seconds
from agent.link import BUSY, DEAD_AFTER_INTERVALS, HANDSHAKE_TIMEOUT, URGENT_RETRY_CAP
from agent.resend import Resends
from bench.wsfleet import StampedConnection
from shared.domain import AlarmLevel, Trigger
from shared.protocol import (
    ALARM_WAITING_HEADER,
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    Hello,
    Pong,
    RaiseAlarm,
    Receipt,
    encode,
    utc_now,
)

WATCHDOG_TICK = 0.25


@dataclass
class History:
    """What one agent saw with its own eyes; the checker trusts nothing else but the store."""

    raised: dict[str, int] = field(default_factory=dict)  # alarm id -> press (monotonic ns)
    acked: dict[str, int] = field(default_factory=dict)  # first alarm_stored
    shown: dict[str, int] = field(default_factory=dict)  # first alarm_notify: the popup
    notifies: Counter[str] = field(default_factory=Counter)  # every alarm_notify
    shown_twice: Counter[str] = field(default_factory=Counter)  # popups for an id already shown
    refusals: int = 0  # ``error internal`` answers to our alarms
    reconnects: int = 0


class SimAgent:
    """One workstation's agent on its own reconnect loop."""

    def __init__(self, ws_id: str, token: str, url: str, heartbeat: float) -> None:
        self.ws_id = ws_id
        self.token = token
        self.url = url
        self.silence_limit = DEAD_AFTER_INTERVALS * heartbeat
        self.history = History()
        self.outbox: dict[uuid.UUID, RaiseAlarm] = {}
        self._ws: StampedConnection | None = None
        self._sent: dict[str, uuid.UUID] = {}  # message id -> alarm id, to read ``error``
        self._popups: set[str] = set()  # agent/popup.py: open or done, never shown again
        self._resends = Resends(asyncio.get_running_loop(), self._resend)
        self._welcomed = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._ws is not None

    async def press(self, level: AlarmLevel = AlarmLevel.THREAT) -> str:
        """The hotkey: into the outbox, and out at once if a hub is connected."""
        alarm = RaiseAlarm(
            alarm_id=uuid.uuid4(), level=level, trigger=Trigger.HOTKEY, raised_at=utc_now()
        )
        key = str(alarm.alarm_id)
        self.history.raised[key] = time.monotonic_ns()
        self.outbox[alarm.alarm_id] = alarm
        await self._send_alarm(alarm.alarm_id)
        return key

    async def _send_alarm(self, alarm_id: uuid.UUID) -> None:
        alarm = self.outbox.get(alarm_id)
        ws = self._ws
        if alarm is None or ws is None:
            return  # stored meanwhile, or the next connection sends the whole outbox
        # The same alarm (its id is the idempotency key) in a new message, as the agent does.
        message = alarm.model_copy(update={"id": uuid.uuid4().hex})
        self._sent[message.id] = alarm_id
        with contextlib.suppress(ConnectionClosed):
            await ws.send(encode(message))

    def _resend(self, alarm_id: uuid.UUID) -> None:
        task = asyncio.get_running_loop().create_task(self._send_alarm(alarm_id))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def run(self, stopping: asyncio.Event) -> None:
        """Connects, and after a loss reconnects as agent/link.py does with one hub."""
        backoff = Backoff()
        while not stopping.is_set():
            busy_for: float | None = None
            try:
                ws = await self._open()
            except InvalidStatus as exc:
                if exc.response.status_code == BUSY:
                    busy_for = retry_after_seconds(exc.response.headers.get("Retry-After"))
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed):
                pass
            else:
                backoff.reset()
                await self._session(ws)
            if stopping.is_set():
                return
            self.history.reconnects += 1
            delay = backoff.next_delay() if busy_for is None else backoff.retry_after(busy_for)
            if self.outbox:
                delay = min(delay, URGENT_RETRY_CAP)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)

    def abort(self) -> None:
        if self._ws is not None:
            self._ws.transport.abort()

    async def _open(self) -> StampedConnection:
        ws = cast(
            StampedConnection,
            await connect(
                self.url,
                create_connection=StampedConnection,
                max_size=MAX_MESSAGE_BYTES,
                compression=None,
                ping_interval=None,  # the hub pings; the library answers
                open_timeout=HANDSHAKE_TIMEOUT,
                close_timeout=1.0,
                proxy=None,
                additional_headers={ALARM_WAITING_HEADER: "1"} if self.outbox else None,
            ),
        )
        try:
            hello = Hello(
                protocol=PROTOCOL_VERSION,
                workstation_id=self.ws_id,
                token=self.token,
                agent_version="bench-faults",
            )
            await ws.send(encode(hello))
            raw = await asyncio.wait_for(ws.recv(), HANDSHAKE_TIMEOUT)
            if json.loads(raw).get("type") != "welcome":
                raise InvalidHandshake("expected welcome")
        except BaseException:
            ws.transport.abort()
            raise
        return ws

    async def _session(self, ws: StampedConnection) -> None:
        self._ws = ws
        ws.arrived_ns = time.monotonic_ns()
        watchdog = asyncio.create_task(self._watch(ws))
        try:
            for alarm_id in list(self.outbox):  # a new connection sends the whole outbox
                await self._send_alarm(alarm_id)
            async for raw in ws:
                await self._handle(ws, json.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            self._ws = None
            self._resends.clear()
            watchdog.cancel()
            ws.transport.abort()

    async def _watch(self, ws: StampedConnection) -> None:
        """A hub silent for two heartbeat intervals is gone, a frozen one too (agent/link.py)."""
        limit_ns = int(self.silence_limit * 1e9)
        while True:
            await asyncio.sleep(WATCHDOG_TICK)
            if time.monotonic_ns() - ws.arrived_ns > limit_ns:
                ws.transport.abort()
                return

    async def _handle(self, ws: StampedConnection, message: dict[str, object]) -> None:
        at = ws.arrived_ns
        kind = message.get("type")
        history = self.history
        if kind == "ping":
            await ws.send(encode(Pong(reply_to=str(message["id"]))))
        elif kind == "alarm_notify":
            key = str(message["alarm_id"])
            history.notifies[key] += 1
            if key in self._popups:
                pass  # agent/popup.py: an open or done popup only gets another receipt
            elif key in history.shown:
                history.shown_twice[key] += 1  # the rule above failed: a second popup
            else:
                history.shown[key] = at
            self._popups.add(key)
            await ws.send(encode(Receipt(alarm_id=uuid.UUID(key))))
        elif kind == "alarm_stored":
            alarm_id = uuid.UUID(str(message["alarm_id"]))
            self.outbox.pop(alarm_id, None)
            self._resends.stored(alarm_id)
            history.acked.setdefault(str(alarm_id), at)
        elif kind == "error" and message.get("code") == "internal":
            alarm_id_or_none = self._sent.get(str(message.get("reply_to")))
            if alarm_id_or_none is not None and alarm_id_or_none in self.outbox:
                history.refusals += 1
                self._resends.refused(alarm_id_or_none)


class Fleet:
    """Every simulated agent of a round, each on its own task."""

    def __init__(self, url: str, agents: list[tuple[str, str]], heartbeat: float) -> None:
        self.agents = {ws_id: SimAgent(ws_id, token, url, heartbeat) for ws_id, token in agents}
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(a.run(self._stopping)) for a in self.agents.values()]

    @property
    def connected(self) -> int:
        return sum(a.connected for a in self.agents.values())

    async def stop(self) -> None:
        self._stopping.set()
        for agent in self.agents.values():
            agent.abort()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
