"""Reading one protocol message from a WebSocket, with the close code for each way it can fail."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

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
