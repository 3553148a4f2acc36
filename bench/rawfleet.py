"""Many raw clients in one process: each kept connected the way the agent keeps its link."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from agent.backoff import Backoff
from agent.link import URGENT_RETRY_CAP
from bench.fleet import Recorder
from bench.rawclients import Busy, MqttClient, Refused, Stamped, WsAgent

READY_TIMEOUT = 10.0
"""Upgrade and Welcome (or CONNACK and SUBACK) within this; as bench.wsfleet's handshake."""


@dataclass(frozen=True)
class Endpoint:
    """Where a system listens and which of the two protocols it speaks."""

    kind: str  # "ws" (the hub, the naive hub) or "mqtt" (Mosquitto)
    host: str
    port: int


@dataclass(frozen=True)
class Member:
    client_id: str
    token: str = ""  # WebSocket agents only
    raiser: bool = False  # raises alarms (WebSocket: with the alarm-waiting header)
    recipient: bool = False  # MQTT: subscribes to the alarm topic


class RawFleet:
    """Connects every member through ``Endpoint``; one ``Recorder`` for all of them."""

    def __init__(
        self,
        endpoint: Endpoint,
        members: list[Member],
        heartbeat: float,
        *,
        receipts: bool = True,
        connect_concurrency: int = 20,
    ) -> None:
        self.endpoint = endpoint
        self.members = members
        self.keepalive = max(1, round(heartbeat))
        self.receipts = receipts
        self.rec = Recorder()
        self.live: dict[str, Stamped] = {}
        # For the restart storm: when each member was last let in, and how often each
        # was refused with 503 (the target: nobody refused more than once).
        self.welcomed_at: dict[str, float] = {}
        self.refused: Counter[str] = Counter()
        self._gate = asyncio.Semaphore(connect_concurrency)
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._keep(m)) for m in self.members]

    async def stop(self) -> None:
        self._stopping.set()
        for client in list(self.live.values()):
            client.abort()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def raise_alarm(self, client_id: str, level: int) -> str | None:
        """Sends one alarm from ``client_id``; None if it is not connected right now."""
        client = self.live.get(client_id)
        if client is None:
            return None
        alarm_id = str(uuid.uuid4())
        client.send_alarm(alarm_id, level)
        return alarm_id

    def _factory(self, member: Member, seen: set[str]) -> Callable[[], Stamped]:
        e = self.endpoint
        if e.kind == "ws":
            return lambda: WsAgent(
                self.rec,
                seen,
                host=e.host,
                port=e.port,
                workstation_id=member.client_id,
                token=member.token,
                alarm_waiting=member.raiser,
                receipts=self.receipts,
            )
        return lambda: MqttClient(
            self.rec,
            seen,
            client_id=member.client_id,
            keepalive=self.keepalive,
            subscribe=member.recipient,
        )

    async def _connect(self, make: Callable[[], Stamped]) -> Stamped:
        loop = asyncio.get_running_loop()
        _transport, client = await loop.create_connection(
            make, self.endpoint.host, self.endpoint.port
        )
        try:
            await asyncio.wait_for(client.ready, READY_TIMEOUT)
        except BaseException:
            client.abort()
            raise
        return client

    async def _keep(self, member: Member) -> None:
        """Connected until stopped; after a loss or refusal the agent's backoff and Retry-After."""
        make = self._factory(member, set())
        backoff = Backoff()
        first = True
        while not self._stopping.is_set():
            busy_for: float | None = None
            try:
                if first:
                    async with self._gate:  # the first ramp-up: a bounded number in flight
                        client = await self._connect(make)
                else:
                    client = await self._connect(make)
            except Busy as exc:
                self.rec.errors["HTTP 503"] += 1
                self.refused[member.client_id] += 1
                busy_for = exc.retry_after
            except (Refused, OSError, TimeoutError) as exc:
                self.rec.errors[str(exc) if isinstance(exc, Refused) else type(exc).__name__] += 1
            else:
                first = False
                backoff.reset()
                self.live[member.client_id] = client
                self.welcomed_at[member.client_id] = time.monotonic()
                self.rec.welcomed()
                reason = await client.lost
                del self.live[member.client_id]
                self.rec.connected -= 1
                if not self._stopping.is_set():
                    self.rec.closes[reason] += 1
            if self._stopping.is_set():
                return
            delay = backoff.next_delay() if busy_for is None else backoff.retry_after(busy_for)
            if member.raiser:
                delay = min(delay, URGENT_RETRY_CAP)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
