"""Reading one protocol message from a WebSocket, with the close code for each way it can fail."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from dispatch.runtime.loop_stalls import StallWatch
from shared.protocol import CloseCode


class ProtocolViolation(Exception):
    """The peer broke the protocol; the connection is closed with ``code`` and ``reason``."""

    def __init__(self, reason: str, code: int = CloseCode.PROTOCOL_ERROR) -> None:
        super().__init__(reason)
        self.code = code
        # WebSocket close reasons are limited to 123 bytes.
        self.reason = reason.encode("utf-8")[:123].decode("utf-8", "ignore")


async def receive_message(websocket: WebSocket, adapter: TypeAdapter[Any]) -> Any:
    """The next message, validated; raises WebSocketDisconnect or ProtocolViolation."""
    frame = await websocket.receive()
    if frame["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(frame.get("code", CloseCode.NORMAL), frame.get("reason"))
    text = frame.get("text")
    if text is None:
        raise ProtocolViolation("text frames with JSON only")
    try:
        return adapter.validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        raise ProtocolViolation(f"invalid message: {where}: {first['msg']}") from error


async def receive_within(websocket: WebSocket, adapter: TypeAdapter[Any], seconds: float) -> Any:
    """The next message within ``seconds``; raises TimeoutError otherwise.

    A wait that ended far later than its timeout means the hub itself stood still
    (SIGSTOP, a long pause): its timer runs before the socket is read, and the
    message may be waiting there unread. Then the peer gets another ``seconds``
    (dispatch/runtime/loop_stalls.py); after a stopped hub resumed, agents were
    closed with 4408 whose hello had come in time (issue 16).
    """
    receiving = asyncio.ensure_future(receive_message(websocket, adapter))
    stalls = StallWatch(tolerance=seconds / 2)
    try:
        while True:
            due = time.monotonic() + seconds
            done, _ = await asyncio.wait({receiving}, timeout=seconds)
            if done:
                return receiving.result()
            if not stalls.fired(due, time.monotonic()):
                raise TimeoutError
    finally:
        receiving.cancel()
