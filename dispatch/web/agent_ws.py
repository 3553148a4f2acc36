"""The agents' WebSocket: hello first, then alarms, receipts, answers and heartbeats."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from dispatch import __version__
from dispatch.alarms.lifecycle import AlarmError
from dispatch.alarms.store import AlarmStore
from dispatch.directory.authentication import Authenticator
from dispatch.directory.identities import WorkstationView
from dispatch.directory.refusals import Refused
from dispatch.directory.session_clients import ClientRevoked
from dispatch.live.hub import Hub
from dispatch.net.admission import HandshakeGate
from dispatch.net.connection import ADMITTED, BUSY_TEXT, HANDSHAKE
from dispatch.net.peers import AgentPeer
from dispatch.net.ratelimit import MessageLimiter
from dispatch.net.wire import ProtocolViolation, receive_message, receive_within
from dispatch.runtime.counted_log import CountedWarning
from dispatch.settings import Settings
from shared.protocol import (
    ALARM_WAITING_HEADER,
    PROTOCOL_VERSION,
    AgentHealth,
    CancelAlarm,
    CloseCode,
    Error,
    ErrorCode,
    Hello,
    PeerListen,
    Ping,
    Pong,
    RaiseAlarm,
    Receipt,
    Respond,
    Welcome,
    WorkstationInfo,
    agent_to_hub,
)

log = structlog.get_logger(__name__)

MAX_STORING = 16
"""Alarms of one agent being stored at once; an outbox rarely holds more than two."""

_READING_PAUSED = CountedWarning(log, "agent_reading_paused")
"""Support's clue to a store slower than an agent's alarms; counted, since a PC whose
token was stolen could pause the hub's reading at every commit (one line per process)."""


async def agent_endpoint(websocket: WebSocket) -> None:
    state = websocket.app.state
    gate: HandshakeGate = state.handshake_gate
    # Usually the connection has let it in already (dispatch/net/connection.py, before
    # any ASGI work); this is for servers without that protocol.
    handshake = websocket.scope.get("extensions", {}).get(ADMITTED, {}).get(HANDSHAKE)
    if handshake is None:
        handshake = gate.enter(
            alarm_waiting=websocket.headers.get(ALARM_WAITING_HEADER) == "1",
            address=websocket.client.host if websocket.client else "",
        )
    if handshake is None:
        # Before the upgrade, so it costs little; Retry-After spreads the agents' return.
        await websocket.send_denial_response(
            PlainTextResponse(BUSY_TEXT, 503, headers={"Retry-After": str(gate.retry_after())})
        )
        return
    try:
        peer = await _admit(
            websocket,
            state.settings,
            state.authenticator,
            state.hub,
            lambda: gate.authenticated(handshake),
        )
    finally:
        gate.leave(handshake)
    if peer is not None:
        await _serve(peer, state.hub, MessageLimiter())


async def _admit(
    websocket: WebSocket,
    settings: Settings,
    authenticator: Authenticator,
    hub: Hub,
    authenticated: Callable[[], None],
) -> AgentPeer | None:
    """Upgrade, hello, welcome, then the replay of open alarms: the part a storm queues for."""
    await websocket.accept()
    try:
        peer = await _handshake(
            websocket,
            settings,
            authenticator,
            hub.alarms,
            authenticated,
            peer_directory=hub.peer_directories is not None,
        )
    except ProtocolViolation as violation:
        log.info("agent_refused", code=violation.code, reason=violation.reason)
        hub.metrics.handshakes_refused.labels(reason=_close_name(violation.code)).inc()
        await websocket.close(violation.code, violation.reason)
        return None
    except WebSocketDisconnect:
        return None
    try:
        await hub.agent_joined(peer)
    except BaseException:
        # Registered but never served: unregister, or the PC would count as online forever.
        hub.agent_left(peer)
        await peer.close(CloseCode.INTERNAL_ERROR, "hub error; reconnect")
        raise
    return peer


async def _handshake(
    websocket: WebSocket,
    settings: Settings,
    authenticator: Authenticator,
    alarms: AlarmStore,
    authenticated: Callable[[], None],
    *,
    peer_directory: bool,
) -> AgentPeer:
    try:
        hello = await receive_within(websocket, agent_to_hub, settings.handshake_timeout)
    except TimeoutError:
        raise ProtocolViolation(
            f"hello expected within {settings.handshake_timeout:g} s", CloseCode.HANDSHAKE_TIMEOUT
        ) from None
    if not isinstance(hello, Hello):
        raise ProtocolViolation(f"hello expected first, got {hello.type}")
    if hello.protocol != PROTOCOL_VERSION:
        raise ProtocolViolation(
            f"protocol {hello.protocol} not supported; this hub speaks {PROTOCOL_VERSION}",
            CloseCode.UNSUPPORTED_VERSION,
        )
    workstation = await authenticator.authenticate_workstation(
        hello.workstation_id, hello.token.get_secret_value()
    )
    if workstation is None:
        raise ProtocolViolation("unknown workstation or wrong token", CloseCode.UNAUTHORIZED)
    authenticated()  # no longer counted against its address (dispatch/net/admission.py)
    if hello.remote_session is not None:
        # A terminal server's session speaks for its client device: the client's room,
        # popups and alarms, never the host's (dispatch/directory/session_clients.py).
        workstation = await _session_client(
            authenticator, workstation, hello.remote_session.client_name
        )
    peer = AgentPeer(websocket, workstation, hello.user, hello.agent_version)
    peer.send(
        Welcome(
            reply_to=hello.id,
            protocol=PROTOCOL_VERSION,
            hub_version=__version__,
            heartbeat_interval=settings.heartbeat_interval,
            workstation=WorkstationInfo(
                workstation_id=workstation.id, room=workstation.room_at_connect
            ),
            levels=await alarms.levels.of_site(workstation.site_id),
            keepalive="websocket",  # dispatch/cli.py: uvicorn pings and times out agents
            agent_health=True,
            peer_directory=peer_directory,  # dispatch/live/peer_directory.py (issue 16)
        )
    )
    return peer


async def _session_client(
    authenticator: Authenticator, host: WorkstationView, client_name: str
) -> WorkstationView:
    try:
        client = await authenticator.session_client(host, client_name)
    except ClientRevoked as refused:
        raise ProtocolViolation(str(refused), CloseCode.REVOKED) from None
    except Refused as refused:
        raise ProtocolViolation(str(refused), CloseCode.FORBIDDEN) from None
    room = client.room_at_connect
    log.info("remote_session", host=host.id, client=client.id, room=room and room.number)
    return client


async def _serve(peer: AgentPeer, hub: Hub, limiter: MessageLimiter) -> None:
    code: int = CloseCode.NORMAL
    reason = ""
    # Alarms being stored. Each is stored in a task of its own, so the agent's next
    # messages are read meanwhile: alarms sent back to back (an outbox emptied on
    # reconnect) share one group commit instead of each waiting for the one before,
    # and heartbeats and receipts are answered at once. A message that may refer
    # to one of them (a cancel, an answer) waits until they are stored. At most
    # MAX_STORING at once: beyond that the hub stops reading the agent (TCP pushes
    # back) instead of taking an unbounded flood of alarms into memory; none is dropped.
    storing: set[asyncio.Task[None]] = set()
    try:
        while not peer.closed:
            message = await receive_message(peer.websocket, agent_to_hub)
            answers_hub = isinstance(message, Receipt) and peer.confirms(message.alarm_id)
            if not answers_hub and not limiter.allow(message):
                raise ProtocolViolation(
                    "too many messages; alarms are never limited", CloseCode.RATE_LIMITED
                )
            if isinstance(message, RaiseAlarm):
                if len(storing) >= MAX_STORING:
                    _READING_PAUSED.add(peer=peer.label)
                    await asyncio.wait(storing, return_when=asyncio.FIRST_COMPLETED)
                task = asyncio.create_task(_handle(peer, hub, message))
                storing.add(task)
                task.add_done_callback(storing.discard)
                continue
            if storing and not isinstance(message, Receipt | Ping | Pong):
                await asyncio.wait(storing)
            await _handle(peer, hub, message)
    except WebSocketDisconnect:
        pass
    except ProtocolViolation as violation:
        code, reason = violation.code, violation.reason
        log.info("agent_protocol_violation", peer=peer.label, reason=violation.reason)
    finally:
        hub.agent_left(peer)
        await peer.close(code, reason)


async def _handle(peer: AgentPeer, hub: Hub, message: object) -> None:
    try:
        match message:
            case RaiseAlarm():
                await hub.raise_alarm(peer, message)
            case CancelAlarm():
                await hub.cancel(peer, message.alarm_id, duress=message.duress)
            case Receipt():
                hub.receipt(peer, message.alarm_id)
            case Respond():
                await hub.respond(peer, message)
            case AgentHealth():
                hub.agent_health(peer, message.reasons)
            case PeerListen():
                hub.peer_listen(peer, message.port)
            case Ping():
                peer.send(Pong(reply_to=message.id))
            case Pong():
                pass
            case Hello():
                raise ProtocolViolation("hello sent twice")
    except AlarmError as error:
        peer.send(Error(reply_to=_id(message), code=ErrorCode(error.code), message=error.message))
    except ProtocolViolation:
        raise
    except Exception:
        # The agent keeps the alarm in its outbox and retries; it is told now, not silently.
        log.exception("agent_message_failed", peer=peer.label)
        hub.metrics.internal_errors.inc()
        peer.send(
            Error(reply_to=_id(message), code=ErrorCode.INTERNAL, message="not processed; retry")
        )


def _close_name(code: int) -> str:
    """The close code's name, a fixed vocabulary (a metric label), never the reason text."""
    try:
        return CloseCode(code).name.lower()
    except ValueError:
        return "other"


def _id(message: object) -> str | None:
    return getattr(message, "id", None)
