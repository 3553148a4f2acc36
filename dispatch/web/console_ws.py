"""The guards' console WebSocket: same-origin browsers with an operator session only."""

from __future__ import annotations

import time

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect

from dispatch.alarms.lifecycle import AlarmError
from dispatch.directory import sessions
from dispatch.directory.authentication import Authenticator
from dispatch.live.hub import Hub
from dispatch.net.peers import ConsolePeer
from dispatch.net.wire import ProtocolViolation, receive_message
from shared.protocol import (
    Acknowledge,
    Arrive,
    CloseCode,
    Error,
    ErrorCode,
    Ping,
    Pong,
    Resolve,
    Seen,
    console_to_hub,
)

log = structlog.get_logger(__name__)


def origin_allowed(websocket: WebSocket, extra_origins: list[str]) -> bool:
    """Same origin as the page (by Host), or one configured explicitly; never missing or null."""
    origin = websocket.headers.get("origin")
    if not origin or origin == "null":
        return False
    host = websocket.headers.get("host", "")
    return origin in {f"http://{host}", f"https://{host}", *extra_origins}


async def console_endpoint(websocket: WebSocket) -> None:
    state = websocket.app.state
    if not origin_allowed(websocket, state.settings.allowed_origins):
        # Closing before accept answers the upgrade with HTTP 403.
        log.warning("console_origin_refused", origin=websocket.headers.get("origin"))
        await websocket.close(CloseCode.FORBIDDEN, "origin not allowed")
        return
    authenticator: Authenticator = state.authenticator
    max_age = state.settings.session_max_age
    operator = await sessions.operator_of(websocket.session, authenticator, max_age)
    await websocket.accept()
    if operator is None:
        # Accepted first so the page can read the code and send the guard to the login.
        await websocket.close(CloseCode.UNAUTHORIZED, "login required")
        return
    # The socket may not outlive the session: its end is the login's, not the connect's.
    expires_at = time.monotonic() + sessions.remaining(websocket.session, max_age)
    peer = ConsolePeer(websocket, operator, expires_at)
    hub: Hub = state.hub
    await hub.console_joined(peer)
    code: int = CloseCode.NORMAL
    reason = ""
    try:
        while not peer.closed:
            message = await receive_message(websocket, console_to_hub)
            peer.heard()
            await _handle(peer, hub, message)
    except WebSocketDisconnect:
        pass
    except ProtocolViolation as violation:
        code, reason = violation.code, violation.reason
    finally:
        hub.console_left(peer)
        await peer.close(code, reason)


async def _handle(peer: ConsolePeer, hub: Hub, message: object) -> None:
    try:
        match message:
            case Acknowledge():
                await hub.acknowledge(message.alarm_id, peer.operator)
            case Arrive():
                await hub.arrive(message.alarm_id, peer.operator)
            case Resolve():
                await hub.resolve(message.alarm_id, peer.operator, message.report)
            case Seen():
                await hub.console_seen(message.alarm_id, peer.operator)
            case Ping():
                peer.send(Pong(reply_to=message.id))
            case Pong():
                pass
    except AlarmError as error:
        peer.send(
            Error(
                reply_to=getattr(message, "id", None),
                code=ErrorCode(error.code),
                message=error.message,
            )
        )
