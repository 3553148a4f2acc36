"""One agent per user and data_dir: QLockFile guards it, QLocalServer takes later calls' commands.

A second ``run`` finds the lock taken and exits; ``trigger``, ``show`` and
``status`` are forwarded to the running agent over the local socket. Requests
and replies are one JSON object per line. The server name is derived from the
login name and a hash of data_dir, so two users (or two test agents) never meet.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from agent.feedback import STORED_DEADLINE
from agent.link_signals import LinkSignals
from shared.domain import AlarmLevel, Trigger
from shared.protocol import AlarmStored, RaiseAlarm

log = logging.getLogger(__name__)

Request = dict[str, Any]
Reply = Callable[[dict[str, Any]], None]
Handler = Callable[[Request, Reply], None]

MAX_REQUEST_BYTES = 4096
CONNECT_TIMEOUT_MS = 1000


def server_name(data_dir: Path, user: str | None = None) -> str:
    """``silent-alarm-<login>-<hash of data_dir>``: per user and per data_dir."""
    login = re.sub(r"[^A-Za-z0-9_.-]", "_", user or getpass.getuser())[:32]
    digest = hashlib.sha256(str(data_dir.expanduser().resolve()).encode()).hexdigest()[:16]
    return f"silent-alarm-{login}-{digest}"


def lock_path(data_dir: Path) -> Path:
    return data_dir / "agent.lock"


class InstanceServer(QObject):
    """Answers commands from later ``silent-alarm-agent`` calls on the Qt thread."""

    def __init__(self, name: str, handlers: dict[str, Handler]) -> None:
        super().__init__()
        self.name = name
        self.handlers = handlers
        self._server = QLocalServer(self)
        # Only this login may connect (on Unix the socket file is mode 0700).
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._accept)
        self._buffers: dict[QLocalSocket, bytearray] = {}

    def listen(self) -> bool:
        # We hold the lock file, so a socket left by a crashed agent is stale.
        QLocalServer.removeServer(self.name)
        if not self._server.listen(self.name):
            log.warning("local command socket unavailable: %s", self._server.errorString())
            return False
        log.info("listening for local commands")
        return True

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            self._buffers[socket] = bytearray()
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(lambda s=socket: self._forget(s))

    def _forget(self, socket: QLocalSocket) -> None:
        self._buffers.pop(socket, None)
        socket.deleteLater()

    def _read(self, socket: QLocalSocket) -> None:
        buffer = self._buffers.get(socket)
        if buffer is None:
            return
        buffer += bytes(socket.readAll().data())
        if b"\n" not in buffer:
            if len(buffer) > MAX_REQUEST_BYTES:
                self._reply(socket, {"error": "request too long"})
            return
        line = bytes(buffer.split(b"\n", 1)[0])
        self._buffers[socket] = bytearray()  # one request per connection
        try:
            request = json.loads(line)
            command = request["command"]
            handler = self.handlers[command]
        except (ValueError, KeyError, TypeError):
            self._reply(socket, {"error": "unknown request"})
            return
        log.info("local command %s", command)
        answered = False

        def reply(message: dict[str, Any]) -> None:
            nonlocal answered
            if not answered:
                answered = True
                self._reply(socket, message)

        try:
            handler(request, reply)
        except Exception:
            log.exception("local command %s failed", command)
            reply({"error": "failed"})

    def _reply(self, socket: QLocalSocket, message: dict[str, Any]) -> None:
        if socket.state() != QLocalSocket.LocalSocketState.ConnectedState:
            return
        socket.write(json.dumps(message).encode() + b"\n")
        socket.flush()
        socket.disconnectFromServer()


def send_command(name: str, request: Request, timeout: float = 5.0) -> dict[str, Any] | None:
    """Send one request to the running agent; None if no agent listens under name.

    Blocking (for the CLI, which has no event loop). A listening agent that does
    not answer within timeout gives ``{"error": "timeout"}``.
    """
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
        return None
    socket.write(json.dumps(request).encode() + b"\n")
    socket.waitForBytesWritten(CONNECT_TIMEOUT_MS)
    data = bytearray()
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        left = int((deadline - time.monotonic()) * 1000)
        if left <= 0:
            socket.abort()
            return {"error": "timeout"}
        if not socket.waitForReadyRead(left):
            if socket.state() != QLocalSocket.LocalSocketState.ConnectedState:
                data += bytes(socket.readAll().data())
                break
            continue
        data += bytes(socket.readAll().data())
    socket.abort()
    try:
        reply = json.loads(bytes(data).split(b"\n", 1)[0])
    except ValueError:
        return {"error": "no answer"}
    return reply if isinstance(reply, dict) else {"error": "bad answer"}


class RunningAgent(Protocol):
    """What the commands need of the running agent (agent/app.py's ``AgentApp``)."""

    link_signals: LinkSignals

    def status(self) -> dict[str, Any]: ...

    def show_status(self) -> None: ...

    def request_alarm(
        self,
        level: AlarmLevel,
        trigger: Trigger,
        on_result: Callable[[RaiseAlarm | None], None] | None = None,
    ) -> None: ...


def agent_handlers(app: RunningAgent) -> dict[str, Handler]:
    """The commands a running agent answers: ping, status, show, trigger."""

    def ping(request: Request, reply: Reply) -> None:
        reply({"ok": True})

    def status(request: Request, reply: Reply) -> None:
        reply({"ok": True, **app.status()})

    def show(request: Request, reply: Reply) -> None:
        app.show_status()
        reply({"ok": True})

    def trigger(request: Request, reply: Reply) -> None:
        try:
            level = AlarmLevel(int(request["level"]))
        except (KeyError, TypeError, ValueError):
            reply({"error": "level must be 1, 2 or 3"})
            return
        app.request_alarm(level, Trigger.CLI, lambda alarm: _await_stored(app, alarm, reply))

    return {"ping": ping, "status": status, "show": show, "trigger": trigger}


def _await_stored(app: RunningAgent, alarm: RaiseAlarm | None, reply: Reply) -> None:
    """Answer "stored" on the hub's AlarmStored, "not_delivered" after STORED_DEADLINE."""
    if alarm is None:
        reply({"result": "cancelled"})
        return
    waiter = QObject()  # owns the connection and the timer; deleted with them

    def stored(message: AlarmStored) -> None:
        if message.alarm_id == alarm.alarm_id:
            finish("stored")

    def finish(result: str) -> None:
        reply({"result": result, "alarm_id": str(alarm.alarm_id)})
        app.link_signals.stored.disconnect(stored)
        timer.stop()
        waiter.deleteLater()

    app.link_signals.stored.connect(stored)
    timer = QTimer(waiter)
    timer.setSingleShot(True)
    timer.setTimerType(Qt.TimerType.PreciseTimer)  # a coarse one may fire up to 5 % early
    timer.timeout.connect(lambda: finish("not_delivered"))
    timer.start(int(STORED_DEADLINE * 1000))
