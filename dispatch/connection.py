"""The hub's WebSockets: uvicorn's sans-I/O protocol, writing frames straight to the socket.

Through ASGI, every message to every recipient is a coroutine chain (Starlette,
uvicorn's ``send``, the websockets protocol) that builds its own frame. An alarm
to 300 PCs sends 300 copies of the same text, and a server's frames are not
masked, so the frame can be built once and the same bytes written to each
socket. The protocol offers itself to the application as a ``FrameWriter`` in
the ASGI scope's extensions (``dispatch.peers.Peer`` uses it when it is there),
and joins the shared keepalive round (``dispatch.keepalive``) instead of keeping
timers of its own.

Everything else (the upgrade, reading, closing) is uvicorn's, unchanged. Run the
hub with ``uvicorn.run(..., ws=HubWebSocketProtocol)``.
"""

from __future__ import annotations

import functools
from typing import Protocol

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode

from dispatch.keepalive import PING_FRAME, KeepaliveRound, round_for

FRAME_WRITER = "silent_alarm.frame_writer"
"""The ASGI scope extension under which the connection offers itself as a FrameWriter."""


@functools.lru_cache(maxsize=64)
def text_frame(text: str) -> bytes:
    """A server's text frame; the same message to many peers is built once (cached)."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class FrameWriter(Protocol):
    def can_write_now(self) -> bool:
        """False while the socket's buffer is full; await ``wait_writable`` then."""
        ...

    async def wait_writable(self) -> None: ...

    def write_frame(self, frame: bytes) -> bool:
        """Writes a whole frame now; False once the connection is closing."""
        ...


class HubWebSocketProtocol(WebSocketsSansIOProtocol):
    last_rx = 0.0
    ping_sent_at = 0.0
    _round: KeepaliveRound | None = None

    def data_received(self, data: bytes) -> None:
        self.last_rx = self.loop.time()  # any frame is a sign of life, a pong included
        super().data_received(data)

    def handle_connect(self, event: object) -> None:
        super().handle_connect(event)  # type: ignore[arg-type]
        if self.handshake_initiated and not self.close_sent:  # an upgrade, not a refusal
            extensions = self.scope.setdefault("extensions", {})
            # ASGI types extensions as dicts; the writer is the connection itself.
            extensions[FRAME_WRITER] = self  # type: ignore[assignment]

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
