"""The hub's WebSockets: uvicorn's sans-I/O protocol, writing frames straight to the socket.

Through ASGI, every message to every recipient is a coroutine chain (Starlette,
uvicorn's ``send``, the websockets protocol) that builds its own frame. An alarm
to 300 PCs sends 300 copies of the same text, and a server's frames are not
masked, so the frame can be built once and the same bytes written to each
socket. The protocol offers itself to the application as a ``FrameWriter`` in
the ASGI scope's extensions (``dispatch.net.peers.Peer`` uses it when it is there),
and joins the shared keepalive round (``dispatch.net.keepalive``) instead of keeping
timers of its own.

It also keeps the hub's admission gate (``dispatch.net.admission``). In a restart
storm most upgrade requests are over the limit. ``HubHttpProtocol`` asks the gate
from the headers httptools has already parsed: an upgrade over the limit waits in
the gate's queue with its transport's reading paused (nothing more is read from
it, no WebSocket protocol object exists yet) and goes on when the gate hands it a
slot; one the queue has no room for, or that waited too long, is answered 503: a
prebuilt response, no second parse of the request by websockets in Python, no log
line of its own (the gate logs a count). The WebSocket protocol is made with the
gate's handshake and hands it to the endpoint; behind another HTTP implementation
``HubWebSocketProtocol`` enters the gate itself and refuses at once (no queue).

Against a LAN attacker (docs/security.md) ``HubHttpProtocol`` also counts
connections per address (``dispatch.net.connection_limits``): one over its
address's cap, or over what the process's descriptors allow, is answered 503
as soon as it is made; the WebSocket protocol takes the count over on upgrade
and gives it back when the connection ends. A connection that sends no
complete request head within the request timeout (from when it opens, or from
the first byte of its next request) is closed.

Everything else (the upgrade, reading, closing) is uvicorn's, unchanged. Run the
hub with ``uvicorn.run(..., http=HubHttpProtocol.admitting(gate, "/ws/agent"),
ws=HubWebSocketProtocol.admitting(gate, "/ws/agent"))``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from asyncio import TimerHandle, Transport
from typing import Any, Protocol, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import Protocol as WebSocketsProtocol
from websockets.streams import StreamReader

from dispatch.logs import CONNECTION_LOGGER
from dispatch.net.admission import MAX_RETRY_AFTER_S, Handshake, HandshakeGate, Place
from dispatch.net.connection_limits import ConnectionLedger
from dispatch.net.keepalive import PING_FRAME, KeepaliveRound, round_for
from shared.protocol import ALARM_WAITING_HEADER

FRAME_WRITER = "silent_alarm.frame_writer"
"""The ASGI scope extension under which the connection offers itself as a FrameWriter."""
ADMITTED = "silent_alarm.admitted"
"""The ASGI scope extension set when the gate let this agent handshake in here: the
endpoint must not enter the gate again, only leave it."""
HANDSHAKE = "handshake"
"""Under ADMITTED: the gate's ``Handshake`` the endpoint reports to (authenticated, left)."""
BUSY_TEXT = "busy: too many agents connecting at once; retry"
WAITED_TEXT = "busy: no handshake slot free in time; retry"
_ALARM_WAITING = (ALARM_WAITING_HEADER.lower().encode(), b"1")
"""The header as httptools hands it over: name in lower case."""


_CONNECTION_LOG = logging.getLogger(CONNECTION_LOGGER)
"""Instead of uvicorn.error: its INFO lines per connection are never built (dispatch/logs.py)."""

_EMPTY_PONG = b"\x8a\x80"
"""A client's pong with no payload (FIN, PONG, masked, length 0), 4 mask bytes follow:
the answer to our ping, which carries no payload."""
_PARSER_BETWEEN_FRAMES = StreamReader.at_eof.__code__
"""Where websockets' parser waits when the last frame is complete and nothing is buffered."""


def is_lone_pong(connection: WebSocketsProtocol, data: bytes) -> bool:
    """``data`` is exactly one empty pong and the parser is between frames: nothing to parse.

    Ten thousand idle agents answer a ping every interval; running each answer
    through the frame parser is most of the hub's idle cost after the system
    calls. Whether the parser is between frames is read from where its generator
    waits; should a websockets release wait elsewhere, this is never true and
    every pong is parsed as before (slower, never wrong).
    """
    if len(data) != 6 or not data.startswith(_EMPTY_PONG) or connection.reader.buffer:
        return False
    waiting: Any = connection.parser  # a generator; typeshed's Generator has no gi_* fields
    while (inner := waiting.gi_yieldfrom) is not None:
        waiting = inner
    return waiting.gi_code is _PARSER_BETWEEN_FRAMES


@functools.lru_cache(maxsize=64)
def text_frame(text: str) -> bytes:
    """A server's text frame; the same message to many peers is built once (cached)."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


@functools.lru_cache(maxsize=2 * (MAX_RETRY_AFTER_S + 1))
def busy_response(retry_after: int, text: str = BUSY_TEXT) -> bytes:
    """The whole 503 answer to an agent upgrade over the limit, built once per value."""
    body = text.encode()
    return (
        b"HTTP/1.1 503 Service Unavailable\r\n"
        b"Retry-After: %d\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: %d\r\n"
        b"Connection: close\r\n\r\n%s"
    ) % (retry_after, len(body), body)


TOO_MANY_CONNECTIONS_TEXT = "busy: too many connections from this address; retry"
CONNECTION_RETRY_AFTER_S = 5
"""A connection refused over its address's cap comes back no sooner (agents cap it at
their own backoff)."""


class HubHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol; holds an agent upgrade over the gate's limit in its queue
    or refuses it, refuses a connection over its address's cap, and closes one that sends
    no request head in time."""

    gate: HandshakeGate | None = None
    agent_path = b""
    ledger: ConnectionLedger | None = None
    head_timeout = 0.0
    _address = ""
    _counted = False
    _head_timer: TimerHandle | None = None
    _place: Place | None = None  # waiting in the gate's queue
    _wait_timer: TimerHandle | None = None
    _handshake: Handshake | None = None  # a slot handed over, the upgrade not yet done

    @classmethod
    def admitting(
        cls,
        gate: HandshakeGate,
        agent_path: str,
        ledger: ConnectionLedger | None = None,
        head_timeout: float = 0.0,
    ) -> type[HubHttpProtocol]:
        """This protocol queueing or refusing agent upgrades on ``agent_path`` as ``gate``
        says (with ``HubWebSocketProtocol.admitting(gate, …)`` for the upgrade), refusing
        connections over ``ledger``'s caps, and closing connections that send no complete
        request head within ``head_timeout`` seconds (0: no limit)."""
        return type(
            cls.__name__,
            (cls,),
            {
                "gate": gate,
                "agent_path": agent_path.encode(),
                "ledger": ledger,
                "head_timeout": head_timeout,
            },
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = _CONNECTION_LOG

    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._address = self.client[0] if self.client else ""
        if self.ledger is not None:
            if not self.ledger.admit(self._address):
                # Before any request: no parse, no ASGI, the descriptor freed at once.
                transport.write(busy_response(CONNECTION_RETRY_AFTER_S, TOO_MANY_CONNECTIONS_TEXT))
                transport.close()
                return
            self._counted = True
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        self._give_up_waiting()
        self._uncount()
        super().connection_lost(exc)

    # --- a request head within head_timeout of the connection or of its first byte

    def _await_head(self) -> None:
        if self.head_timeout > 0 and self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _head_arrived(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            if self.ledger is not None:
                self.ledger.closed_idle(self._address)
            self.transport.close()

    def _uncount(self) -> None:
        if self._counted and self.ledger is not None:
            self.ledger.release(self._address)
        self._counted = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._await_head()  # the next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self._head_arrived()
        super().on_headers_complete()

    def handle_websocket_upgrade(self) -> None:
        self._head_arrived()
        gate = self.gate
        if gate is None or self.url.partition(b"?")[0] != self.agent_path:
            self._upgrade(None)
            return
        answer = gate.request(
            alarm_waiting=_ALARM_WAITING in self.headers, address=self._address, waiter=self
        )
        if answer is None:
            self._refuse(gate, BUSY_TEXT)
        elif isinstance(answer, Place):
            # Nothing more is read until its turn: the agent sends nothing before the
            # answer, and a sender of more gets TCP's push-back, not our memory.
            self._place = answer
            self.transport.pause_reading()
            self._wait_timer = self.loop.call_later(gate.max_wait, self._waited_too_long)
        else:
            self._upgrade(answer)

    def _upgrade(self, handshake: Handshake | None) -> None:
        # The WebSocket protocol counts the connection from here (it sees its end).
        self._uncount()
        made = self.ws_protocol_class
        if handshake is not None:
            if made is not None and issubclass(made, HubWebSocketProtocol):
                # Made with the gate's handshake, which it hands to the endpoint (the
                # upgrade makes it and runs its handle_connect at once, in the call below).
                self.ws_protocol_class = cast(
                    "type[asyncio.Protocol]", functools.partial(made, admitted=handshake)
                )
            elif self.gate is not None:
                self.gate.leave(handshake)  # another WebSocket protocol: the endpoint enters
        super().handle_websocket_upgrade()

    def _refuse(self, gate: HandshakeGate, text: str) -> None:
        self.transport.write(busy_response(gate.refuse(), text))
        self.transport.close()

    # --- waiting in the gate's queue (dispatch.net.admission.Waiter)

    def admitted(self, handshake: Handshake) -> None:
        """A slot for this upgrade; it goes on once the gate's caller is done."""
        self._stop_waiting()
        self._handshake = handshake
        self.loop.call_soon(self._go_on)

    def _go_on(self) -> None:
        handshake, self._handshake = self._handshake, None
        if handshake is None:  # the connection went meanwhile and gave the slot back
            return
        if self.transport.is_closing():
            assert self.gate is not None
            self.gate.leave(handshake)
            return
        self.transport.resume_reading()  # read from the next loop round, by the new protocol
        self._upgrade(handshake)

    def _waited_too_long(self) -> None:
        self._wait_timer = None
        place, self._place = self._place, None
        if place is not None and self.gate is not None:
            self.gate.withdraw(place)
            self._refuse(self.gate, WAITED_TEXT)

    def _stop_waiting(self) -> None:
        self._place = None
        if self._wait_timer is not None:
            self._wait_timer.cancel()
            self._wait_timer = None

    def _give_up_waiting(self) -> None:
        """The connection ended while queued or with a slot it has not used yet."""
        place, handshake = self._place, self._handshake
        self._stop_waiting()
        self._handshake = None
        if self.gate is not None:
            if place is not None:
                self.gate.withdraw(place)
            if handshake is not None:
                self.gate.leave(handshake)


class FrameWriter(Protocol):
    def can_write_now(self) -> bool:
        """False while the socket's buffer is full; await ``wait_writable`` then."""
        ...

    async def wait_writable(self) -> None: ...

    def write_frame(self, frame: bytes) -> bool:
        """Writes a whole frame now; False once the connection is closing."""
        ...


class HubWebSocketProtocol(WebSocketsSansIOProtocol):
    gate: HandshakeGate | None = None
    agent_path = ""
    ledger: ConnectionLedger | None = None
    last_rx = 0.0
    ping_sent_at = 0.0
    _round: KeepaliveRound | None = None
    _counted_address: str | None = None
    _admitted: Handshake | None = None

    @classmethod
    def admitting(
        cls, gate: HandshakeGate, agent_path: str, ledger: ConnectionLedger | None = None
    ) -> type[HubWebSocketProtocol]:
        """This protocol with the hub's gate for agent handshakes on ``agent_path``, its
        connection counted in ``ledger`` until it ends."""
        return type(
            cls.__name__, (cls,), {"gate": gate, "agent_path": agent_path, "ledger": ledger}
        )

    def __init__(self, *args: Any, admitted: Handshake | None = None, **kwargs: Any) -> None:
        """``admitted``: the gate's handshake, when the HTTP protocol let the agent in."""
        super().__init__(*args, **kwargs)
        self.logger = self.conn.logger = _CONNECTION_LOG
        self._admitted = admitted

    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.ledger is not None:  # handed over by the HTTP protocol: already admitted
            self._counted_address = self.client[0] if self.client else ""
            self.ledger.adopt(self._counted_address)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.ledger is not None and self._counted_address is not None:
            self.ledger.release(self._counted_address)
            self._counted_address = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.last_rx = self.loop.time()  # any frame is a sign of life, a pong included
        if self.handshake_complete and is_lone_pong(self.conn, data):
            return  # a pong changes no state: websockets' own handling of it is "pass"
        super().data_received(data)

    def handle_connect(self, event: Request) -> None:
        gate = self.gate
        handshake, self._admitted = self._admitted, None
        if (
            handshake is None
            and gate is not None
            and event.path.partition("?")[0] == self.agent_path
        ):
            # Behind an HTTP protocol other than ours: no queue, over the limit is refused.
            handshake = gate.enter(
                alarm_waiting=event.headers.get(ALARM_WAITING_HEADER) == "1",
                address=self.client[0] if self.client else "",
            )
            if handshake is None:
                self._refuse_busy(gate.retry_after())
                return
        super().handle_connect(event)
        if not self.handshake_initiated or self.close_sent:  # uvicorn refused the upgrade
            if handshake is not None and gate is not None:
                gate.leave(handshake)  # no endpoint will run to leave it
            return
        extensions = self.scope.setdefault("extensions", {})
        # ASGI types extensions as dicts; the writer is the connection itself.
        extensions[FRAME_WRITER] = self  # type: ignore[assignment]
        if handshake is not None:
            extensions[ADMITTED] = {HANDSHAKE: handshake}

    def _refuse_busy(self, retry_after: int) -> None:
        """The same 503 as ``HubHttpProtocol``'s, behind an HTTP protocol other than ours."""
        self.handshake_initiated = self.handshake_complete = self.close_sent = True
        self.transport.write(busy_response(retry_after))
        self.transport.close()

    # --- FrameWriter ---------------------------------------------------------

    def can_write_now(self) -> bool:
        return self.writable.is_set()

    async def wait_writable(self) -> None:
        await self.writable.wait()

    def write_frame(self, frame: bytes) -> bool:
        if self.close_sent or self.disconnected or self.transport.is_closing():
            return False
        self.transport.write(frame)
        return True

    # --- keepalive: the shared round instead of uvicorn's timers per connection

    def start_keepalive(self) -> None:
        if self.ping_interval and self.ping_timeout:
            self._round = round_for(self.loop, self.ping_interval, self.ping_timeout)
            self._round.add(self)

    def stop_keepalive(self) -> None:
        if self._round is not None:
            self._round.discard(self)
            self._round = None
        super().stop_keepalive()

    def send_ping_frame(self) -> None:
        if not self.close_sent and not self.transport.is_closing():
            self.transport.write(PING_FRAME)
