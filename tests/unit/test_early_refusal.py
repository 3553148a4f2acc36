"""Agent handshakes over the limit are refused by the connection, before any ASGI work.

uvicorn's real protocol classes run here over a stand-in transport that records
what is written: the hub's HTTP protocol handing the upgrade to its WebSocket
protocol (``http``, as the hub runs) and the WebSocket protocol alone (``ws``, as
behind another HTTP implementation). The same refusal and the queue over a real
socket, with agents following its Retry-After, are covered in
tests/integration/test_admission.py and test_admission_queue.py.
"""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from dispatch.net.admission import HandshakeGate
from dispatch.net.connection import (
    ADMITTED,
    BUSY_TEXT,
    FRAME_WRITER,
    WAITED_TEXT,
    HubHttpProtocol,
    HubWebSocketProtocol,
)
from shared.protocol import ALARM_WAITING_HEADER
from tests.support.waiting import until


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False
        self.reading = True
        self.protocol: asyncio.BaseProtocol | None = None

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol  # the upgrade hands the socket to the WebSocket protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self.protocol is not None
        return self.protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return self.closed


class App:
    """Records the scopes it is called with; accepts nothing (the tests look before that)."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scopes.append(scope)


def upgrade(path: str, headers: dict[str, str] | None = None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


@pytest.fixture(params=["http", "ws"])
def layer(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def connect(
    gate: HandshakeGate, request: bytes, layer: str, app: App | None = None
) -> tuple[Transport, App]:
    app = app or App()
    ws = HubWebSocketProtocol.admitting(gate, "/ws/agent")
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_config=None,
        ws=ws,
        http=HubHttpProtocol.admitting(gate, "/ws/agent"),
    )
    config.load()
    state = ServerState()
    protocol = (config.http_protocol_class if layer == "http" else ws)(
        config=config,  # type: ignore[call-arg]
        server_state=state,
        app_state={},
    )
    transport = Transport()
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    protocol.data_received(request)
    await asyncio.sleep(0)  # an ASGI task, had one been started, runs now
    return transport, app


async def test_over_the_limit_the_answer_is_503_with_retry_after_and_no_asgi_call(
    layer: str,
) -> None:
    gate = HandshakeGate(limit=1)
    assert gate.enter(alarm_waiting=False)  # the only slot is taken
    transport, app = await connect(gate, upgrade("/ws/agent"), layer)
    head, _, body = transport.written.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503")
    assert b"\r\nRetry-After: " in head
    assert body == BUSY_TEXT.encode()
    assert transport.closed
    assert app.scopes == []  # refused before the application was asked
    assert gate.in_flight == 1


async def test_the_http_layer_refuses_without_a_websocket_protocol() -> None:
    gate = HandshakeGate(limit=1)
    assert gate.enter(alarm_waiting=False)
    transport, _ = await connect(gate, upgrade("/ws/agent?v=1"), "http")
    assert transport.written.startswith(b"HTTP/1.1 503")
    assert isinstance(transport.get_protocol(), HubHttpProtocol)  # never handed over


async def test_an_admitted_agent_reaches_the_endpoint_marked_as_admitted(layer: str) -> None:
    gate = HandshakeGate(limit=1)
    transport, app = await connect(gate, upgrade("/ws/agent"), layer)
    assert gate.in_flight == 1  # left by the endpoint when its handshake ends
    (scope,) = app.scopes
    assert ADMITTED in scope["extensions"]
    assert FRAME_WRITER in scope["extensions"]
    assert b"503" not in transport.written


async def test_an_agent_with_an_alarm_waiting_is_never_refused_here(layer: str) -> None:
    gate = HandshakeGate(limit=1)
    assert gate.enter(alarm_waiting=False)
    _, app = await connect(gate, upgrade("/ws/agent", {ALARM_WAITING_HEADER: "1"}), layer)
    (scope,) = app.scopes
    assert ADMITTED in scope["extensions"]
    assert gate.in_flight == 2


async def test_consoles_are_not_gated(layer: str) -> None:
    gate = HandshakeGate(limit=1)
    assert gate.enter(alarm_waiting=False)
    _, app = await connect(gate, upgrade("/ws/console"), layer)
    (scope,) = app.scopes
    assert ADMITTED not in scope["extensions"]
    assert gate.in_flight == 1


async def test_an_upgrade_uvicorn_refuses_gives_its_slot_back(layer: str) -> None:
    gate = HandshakeGate(limit=1)
    bad = upgrade("/ws/agent").replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8")
    transport, app = await connect(gate, bad, layer)
    assert not transport.written.startswith(b"HTTP/1.1 101")
    assert app.scopes == []
    assert gate.in_flight == 0  # no endpoint runs to leave it


# --- the queue: the HTTP protocol holds the upgrade, unread, until a slot frees ------------


async def test_over_the_limit_the_upgrade_waits_unread_and_goes_on_when_a_slot_frees() -> None:
    gate = HandshakeGate(limit=1, max_queued=4, max_wait=30)
    held = gate.enter(alarm_waiting=False)
    assert held is not None
    transport, app = await connect(gate, upgrade("/ws/agent"), "http")
    assert transport.written == b""  # no 503
    assert not transport.reading  # nothing more is read while it waits
    assert app.scopes == []
    assert len(gate.queue) == 1
    gate.leave(held)  # the endpoint of the handshake in the slot is done
    assert gate.in_flight == 1  # the slot is the waiting one's at once
    await until(lambda: app.scopes, timeout=5, what="the upgrade going on")
    (scope,) = app.scopes
    assert ADMITTED in scope["extensions"]
    assert transport.reading
    assert isinstance(transport.get_protocol(), HubWebSocketProtocol)
    assert b"503" not in transport.written


async def test_an_upgrade_waiting_too_long_gets_503_with_retry_after() -> None:
    gate = HandshakeGate(limit=1, max_queued=4, max_wait=0.05)
    assert gate.enter(alarm_waiting=False)
    transport, app = await connect(gate, upgrade("/ws/agent"), "http")
    await until(lambda: transport.closed, timeout=5, what="the wait running out")
    head, _, body = transport.written.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503")
    assert b"\r\nRetry-After: " in head
    assert body == WAITED_TEXT.encode()
    assert not gate.queue
    assert not gate.unauthenticated["127.0.0.1"]  # its address's place is given back
    assert app.scopes == []


async def test_an_upgrade_finding_the_queue_full_gets_503_at_once() -> None:
    gate = HandshakeGate(limit=1, max_queued=1, max_wait=30)
    assert gate.enter(alarm_waiting=False)
    waiting, _ = await connect(gate, upgrade("/ws/agent"), "http")
    refused, _ = await connect(gate, upgrade("/ws/agent"), "http")
    assert waiting.written == b""
    assert refused.written.startswith(b"HTTP/1.1 503")
    assert refused.written.endswith(BUSY_TEXT.encode())
    assert refused.closed


async def test_a_connection_lost_while_waiting_or_before_its_turn_gives_its_place_back() -> None:
    gate = HandshakeGate(limit=1, max_queued=4, max_wait=30)
    held = gate.enter(alarm_waiting=False)
    assert held is not None
    lost, _ = await connect(gate, upgrade("/ws/agent"), "http")
    late, app = await connect(gate, upgrade("/ws/agent"), "http")
    lost_protocol = lost.get_protocol()
    assert isinstance(lost_protocol, HubHttpProtocol)
    lost_protocol.connection_lost(None)  # gone while waiting
    assert len(gate.queue) == 1
    gate.leave(held)  # the slot goes to the next one waiting
    late_protocol = late.get_protocol()
    assert isinstance(late_protocol, HubHttpProtocol)
    late_protocol.connection_lost(None)  # gone before its upgrade went on
    assert gate.in_flight == 0  # the slot is free again
    await asyncio.sleep(0)  # where its upgrade would have gone on
    assert app.scopes == []
    assert gate.in_flight == 0
