"""An open WebSocket that sends without waiting, so one slow client cannot stall a fan-out."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque

import structlog
from pydantic import BaseModel
from starlette.websockets import WebSocket, WebSocketState

from dispatch.directory.identities import OperatorView, WorkstationView
from dispatch.net.connection import FRAME_WRITER, FrameWriter, text_frame
from shared.protocol import CloseCode, encode

log = structlog.get_logger(__name__)

SEND_QUEUE_LIMIT = 1000
"""A peer this far behind is closed; on reconnect it is sent every open alarm again."""


class Peer:
    """Writes each message to the socket at once, the frame shared with every peer it goes to.

    Only while the socket pushes back (its buffer is full) do messages wait in a
    backlog, drained by a task that exists only then. Without a frame writer (a
    server other than ``dispatch.net.connection``'s) every message goes through the
    ASGI ``send_text`` via that backlog.
    """

    def __init__(self, websocket: WebSocket, label: str) -> None:
        self.websocket = websocket
        self.label = label
        extensions = getattr(websocket, "scope", {}).get("extensions") or {}
        self._writer: FrameWriter | None = extensions.get(FRAME_WRITER)
        self._backlog: deque[str] = deque()
        self._sender: asyncio.Task[None] | None = None
        self._held: list[str] | None = None
        self.closed = False

    def hold(self) -> None:
        """Keep what is sent from now on until ``release``; see Hub.agent_joined."""
        self._held = []

    def release(self, *first: BaseModel) -> None:
        """Send ``first``, then everything held back, in that order."""
        held, self._held = self._held or [], None
        for message in first:
            self.send(message)
        for text in held:
            self.send(text)

    def send(self, message: BaseModel | str) -> None:
        """Sends without waiting; the wire form can be shared by many peers."""
        if self.closed:
            return
        text = message if isinstance(message, str) else encode(message)
        if self._held is not None:
            self._held.append(text)
            return
        writer = self._writer
        if writer is not None and not self._backlog and writer.can_write_now():
            if not writer.write_frame(text_frame(text)):
                self.closed = True  # closing: the receive loop notices and cleans up
            return
        if len(self._backlog) >= SEND_QUEUE_LIMIT:
            log.warning("peer_too_slow", peer=self.label)
            asyncio.get_running_loop().create_task(
                self.close(CloseCode.TOO_SLOW, "send queue full; reconnect to catch up")
            )
            return
        self._backlog.append(text)
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(
                self._drain(), name=f"send:{self.label}"
            )

    async def close(self, code: int, reason: str) -> None:
        """Idempotent: a second close finds the socket closed already."""
        self.closed = True
        self._backlog.clear()
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sender
        if self.websocket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):  # the peer may be gone already
                await self.websocket.close(code=code, reason=reason)

    async def _drain(self) -> None:
        writer = self._writer
        try:
            while self._backlog:
                if writer is None:
                    await self.websocket.send_text(self._backlog.popleft())
                    continue
                await writer.wait_writable()
                # No await between taking and writing: a send() meanwhile queues behind.
                if not writer.write_frame(text_frame(self._backlog.popleft())):
                    self.closed = True
                    return
        except Exception:  # the receive loop notices the disconnect and cleans up
            log.info("peer_send_failed", peer=self.label)
            self.closed = True
        finally:
            self._sender = None


class AgentPeer(Peer):
    """A workstation's agent; ``user`` is who is logged in there, for names on popups."""

    def __init__(
        self, websocket: WebSocket, workstation: WorkstationView, user: str | None, version: str
    ) -> None:
        host = workstation.session_host
        label = f"workstation:{workstation.id}" + (f" via {host}" if host else "")
        super().__init__(websocket, label)
        self.workstation = workstation
        self.user = user
        self.agent_version = version
        # Where the hub sees the agent's WebSocket come from: its neighbours' agents reach it
        # there when no hub answers (issue 16; dispatch/live/peer_directory.py).
        client = getattr(websocket, "client", None)
        self.address: str = client.host if client is not None else ""
        self.peer_port: int | None = None  # set by its peer_listen: it takes direct alarms
        self.directory_said: object = None  # what its last peer_directory said (not re-sent)
        # Alarms sent to this agent and not yet confirmed: their receipts answer the
        # hub and are never rate-limited (a guard's PC confirms hundreds in a burst).
        self._awaiting_receipt: set[uuid.UUID] = set()

    def sent_alarm(self, alarm_id: uuid.UUID) -> None:
        self._awaiting_receipt.add(alarm_id)

    def confirms(self, alarm_id: uuid.UUID) -> bool:
        """True once for a receipt of an alarm the hub sent here."""
        if alarm_id in self._awaiting_receipt:
            self._awaiting_receipt.discard(alarm_id)
            return True
        return False

    @property
    def display_name(self) -> str:
        return self.user or self.workstation.display_name or self.workstation.id


class ConsolePeer(Peer):
    """An operator's console; its session ends at ``expires_at`` (monotonic) at the latest."""

    def __init__(self, websocket: WebSocket, operator: OperatorView, expires_at: float) -> None:
        super().__init__(websocket, f"operator:{operator.username}")
        self.operator = operator
        self.expires_at = expires_at
        # Consoles ping with messages (Hub.supervise); agents are left to WebSocket pings.
        self.last_heard = time.monotonic()

    def heard(self) -> None:
        self.last_heard = time.monotonic()
