"""A real WebSocket client that speaks the agent protocol, for driving the hub in tests."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import websockets
from pydantic import BaseModel, TypeAdapter
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from shared.domain import AlarmLevel, Trigger
from shared.protocol import (
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    Hello,
    Ping,
    Pong,
    RaiseAlarm,
    RemoteSession,
    Welcome,
    encode,
    hub_to_agent,
    utc_now,
)

M = TypeVar("M", bound=BaseModel)


async def expect_message(
    connection: ClientConnection,
    channel: TypeAdapter[Any],
    received: list[Any],
    kind: type[M],
    timeout: float,
    match: dict[str, Any],
) -> M:
    """Reads until a message of ``kind`` whose fields equal ``match``; answers pings meanwhile.

    A key ``alarm__state`` compares ``message.alarm.state``.
    """
    async with asyncio.timeout(timeout):
        while True:
            message = await read_one(connection, channel, received)
            if isinstance(message, kind) and all(_field(message, k) == v for k, v in match.items()):
                return message


async def read_one(
    connection: ClientConnection, channel: TypeAdapter[Any], received: list[Any]
) -> Any:
    """The next message, kept in ``received``; a ping is answered at once, as agents do."""
    message = channel.validate_json(await connection.recv())
    received.append(message)
    if isinstance(message, Ping):
        await connection.send(encode(Pong(reply_to=message.id)))
    return message


def _field(message: BaseModel, path: str) -> Any:
    value: Any = message
    for part in path.split("__"):
        value = getattr(value, part)
    return value


class ProtocolClient:
    """One open WebSocket to the hub: sends messages and expects them, answering pings."""

    channel: TypeAdapter[Any]  # what the hub sends on this socket

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.received: list[Any] = []

    async def send(self, message: BaseModel) -> None:
        await self.connection.send(encode(message))

    async def expect(self, kind: type[M], timeout: float = 5.0, **match: Any) -> M:
        """The next message of this kind whose fields equal ``match``; pings are answered."""
        return await expect_message(
            self.connection, self.channel, self.received, kind, timeout, match
        )

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        """Reads everything meanwhile (kept in ``received``, pings answered), as a real
        agent always does: a client that stops reading answers no WebSocket ping once
        its queue is full, and the hub closes it as frozen."""

        async def read_all() -> None:
            while True:
                await read_one(self.connection, self.channel, self.received)

        reader = asyncio.create_task(read_all())
        try:
            yield
        finally:
            reader.cancel()  # websockets' recv() loses nothing when cancelled
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def close(self) -> None:
        await self.connection.close()


class AgentClient(ProtocolClient):
    channel = hub_to_agent

    def __init__(self, connection: ClientConnection, welcome: Welcome) -> None:
        super().__init__(connection)
        self.welcome = welcome

    async def flush(self, timeout: float = 5.0) -> None:
        """A ping round trip. Per-peer queues are FIFO: once the pong is here, everything
        the hub sent before it is in ``received``."""
        ping = Ping()
        await self.send(ping)
        await self.expect(Pong, timeout, reply_to=ping.id)

    async def raise_alarm(
        self, level: AlarmLevel = AlarmLevel.THREAT, alarm_id: uuid.UUID | None = None, **extra: Any
    ) -> RaiseAlarm:
        message = RaiseAlarm(
            alarm_id=alarm_id or uuid.uuid4(),
            level=level,
            trigger=Trigger.HOTKEY,
            raised_at=utc_now(),
            **extra,
        )
        await self.send(message)
        return message


def agent_hello(
    workstation_id: str,
    token: str,
    user: str | None = None,
    remote_session: RemoteSession | None = None,
) -> Hello:
    """The hello a test agent opens its connection with (a terminal server's session's
    with ``remote_session``)."""
    return Hello(
        protocol=PROTOCOL_VERSION,
        workstation_id=workstation_id,
        token=token,
        agent_version="test",
        user=user,
        remote_session=remote_session,
    )


async def connect_agent(
    ws_url: str,
    workstation_id: str,
    token: str,
    user: str | None = None,
    headers: dict[str, str] | None = None,
    source: str | None = None,
    open_timeout: float = 5,
    remote_session: RemoteSession | None = None,
) -> AgentClient:
    """The upgrade (from the loopback address ``source``, if given), hello and welcome."""
    connection = await websockets.connect(
        ws_url,
        max_size=MAX_MESSAGE_BYTES,
        compression=None,
        open_timeout=open_timeout,
        additional_headers=headers,
        local_addr=None if source is None else (source, 0),
    )
    try:
        await connection.send(encode(agent_hello(workstation_id, token, user, remote_session)))
        async with asyncio.timeout(5):
            welcome = hub_to_agent.validate_json(await connection.recv())
        assert isinstance(welcome, Welcome), welcome
    except BaseException:  # refused, timed out or cancelled: never leave the socket open
        await connection.close()
        raise
    return AgentClient(connection, welcome)


async def wait_closed(connection: ClientConnection, timeout: float = 8) -> tuple[int, str]:
    """Reads until the hub closes (bounded); returns the close code and reason it sent."""
    async with asyncio.timeout(timeout):
        with contextlib.suppress(ConnectionClosed):
            while True:
                await connection.recv()
    assert connection.close_code is not None, "the hub must close with a code"
    return connection.close_code, connection.close_reason or ""
