"""A scripted stand-in for the hub's agent endpoint, for tests of the agent's link.

It speaks the real protocol from ``shared.protocol`` over a real WebSocket on
127.0.0.1 (port 0), runs on its own thread, records what agents send, and can
refuse, freeze or push messages on command.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel
from websockets.asyncio.server import ServerConnection, serve

from shared.domain import AlarmKind, Instruction
from shared.protocol import (
    AlarmNotify,
    AlarmStored,
    Error,
    ErrorCode,
    Hello,
    Ping,
    Pong,
    RaiseAlarm,
    RoomRef,
    Welcome,
    WorkstationInfo,
    agent_to_hub,
    encode,
    utc_now,
)

ROOM = RoomRef(number="101", name="Leistungsabteilung", floor="1. OG")


class FakeHub:
    """Welcomes every hello (unless told to refuse) and stores every alarm."""

    def __init__(
        self,
        *,
        heartbeat_interval: float = 5.0,
        refuse: tuple[int, str] | None = None,
        send_pings: bool = False,
        ws_keepalive: bool = False,
        port: int = 0,
    ) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.refuse = refuse
        self.send_pings = send_pings
        # As the real hub: WebSocket ping frames instead of ping messages, and the
        # welcome says so (Welcome.keepalive); pongs answered are counted.
        self.ws_keepalive = ws_keepalive
        self.pongs = 0
        self.frozen = False  # when True the hub reads but never answers (a hung process)
        self.store = True
        # Alarms still to be answered error "internal", as by a hub whose database is down.
        self.refuse_stores = 0
        # As the real hub does: a stored self-test is echoed to the same agent only.
        self.echo_self_tests = True
        self.received: list[BaseModel] = []
        self.port = port  # 0 picks a free one
        self._cond = threading.Condition()
        self._clients: set[ServerConnection] = set()
        self._stored: set[Any] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._thread_main, name="fake-hub", daemon=True)
        self._started = threading.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/agent"

    def start(self) -> FakeHub:
        self._thread.start()
        if not self._started.wait(5):
            raise RuntimeError("fake hub did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)  # a second stop() does nothing
        self._thread.join(5)

    def push(self, message: BaseModel) -> None:
        """Send a message to every connected agent."""
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._broadcast(encode(message)), self._loop).result(5)

    def wait_for(self, predicate: Callable[[BaseModel], bool], timeout: float = 5.0) -> BaseModel:
        """The first received message matching predicate, waiting at most timeout seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self.received:
                    if predicate(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching message; received {self.received!r}")
                self._cond.wait(left)

    def count(self, kind: type[BaseModel]) -> int:
        with self._cond:
            return sum(isinstance(message, kind) for message in self.received)

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def _record(self, message: BaseModel) -> None:
        with self._cond:
            self.received.append(message)
            self._cond.notify_all()

    def _thread_main(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", self.port, compression=None) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._started.set()
            await self._stop.wait()

    async def _broadcast(self, raw: str) -> None:
        for ws in list(self._clients):
            await ws.send(raw)

    async def _handler(self, ws: ServerConnection) -> None:
        hello = agent_to_hub.validate_json(await ws.recv())
        self._record(hello)
        if self.refuse is not None:
            await ws.close(*self.refuse)
            return
        assert isinstance(hello, Hello)
        welcome = Welcome(
            reply_to=hello.id,
            protocol=1,
            hub_version="fake",
            heartbeat_interval=self.heartbeat_interval,
            workstation=WorkstationInfo(workstation_id=hello.workstation_id, room=ROOM),
            keepalive="websocket" if self.ws_keepalive else "app",
        )
        self._clients.add(ws)  # before the welcome: a test may count clients once welcomed
        pinger = asyncio.create_task(self._pinger(ws)) if self.send_pings else None
        try:
            await ws.send(encode(welcome))
            async for raw in ws:
                message = agent_to_hub.validate_json(raw)
                self._record(message)
                if self.frozen:
                    continue
                if isinstance(message, RaiseAlarm) and self._take_refusal():
                    await ws.send(encode(_not_stored(message)))
                elif isinstance(message, RaiseAlarm) and self.store:
                    duplicate = message.alarm_id in self._stored
                    self._stored.add(message.alarm_id)
                    stored = AlarmStored(
                        reply_to=message.id,
                        alarm_id=message.alarm_id,
                        stored_at=utc_now(),
                        duplicate=duplicate,
                    )
                    await ws.send(encode(stored))
                    if message.kind is AlarmKind.SELF_TEST and self.echo_self_tests:
                        await ws.send(encode(_echo(message)))
                elif isinstance(message, Ping):
                    await ws.send(encode(Pong(reply_to=message.id)))
        except Exception:  # noqa: S110 - a dropped agent is normal here
            pass
        finally:
            self._clients.discard(ws)
            if pinger is not None:
                pinger.cancel()

    def _take_refusal(self) -> bool:
        with self._cond:
            if self.refuse_stores <= 0:
                return False
            self.refuse_stores -= 1
            return True

    async def _pinger(self, ws: ServerConnection) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            if self.frozen:
                continue
            if self.ws_keepalive:
                await asyncio.wait_for(await ws.ping(), self.heartbeat_interval)
                with self._cond:
                    self.pongs += 1
                    self._cond.notify_all()
            else:
                await ws.send(encode(Ping()))

    def wait_for_pongs(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.pongs < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.pongs} pongs, not {count}")
                self._cond.wait(left)


def _not_stored(alarm: RaiseAlarm) -> Error:
    """What the real hub answers when its store failed (dispatch/web/agent_ws.py)."""
    return Error(reply_to=alarm.id, code=ErrorCode.INTERNAL, message="not processed; retry")


def _echo(alarm: RaiseAlarm) -> AlarmNotify:
    return AlarmNotify(
        alarm_id=alarm.alarm_id,
        level=alarm.level,
        kind=AlarmKind.SELF_TEST,
        instruction=Instruction.COME_HELP,
        room=ROOM,
        raiser=None,
        raised_at=alarm.raised_at,
    )


@contextmanager
def fake_hub(**kwargs: Any) -> Iterator[FakeHub]:
    hub = FakeHub(**kwargs).start()
    try:
        yield hub
    finally:
        hub.stop()
