"""The admin API against a real hub process: operators log in through the console form."""

from __future__ import annotations

import os
import queue
import re
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect
from websockets.typing import Origin

from shared.domain import AlarmKind, AlarmLevel, Answer, Trigger
from shared.protocol import (
    PROTOCOL_VERSION,
    AlarmNotify,
    AlarmSnapshot,
    AlarmStored,
    ConsoleAlarm,
    ConsoleAlarmChanged,
    Error,
    Hello,
    IncidentReport,
    Ping,
    Pong,
    RaiseAlarm,
    Receipt,
    Resolve,
    Respond,
    Welcome,
    encode,
    hub_to_agent,
    hub_to_console,
    utc_now,
)
from tests.support.hub import RunningHub, start_demo_hub

API = "/api/v1"
ADMIN = ("admin", "admin-passwort-1234")
MANAGER = ("notfall", "notfall-passwort-1234")
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def dispatch_cli(hub: RunningHub, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``silent-alarm-dispatch`` against the hub's own database (as an admin on the server)."""
    env = {**os.environ, "SILENT_ALARM_DATA_DIR": str(hub.data_dir)}
    env.pop("SILENT_ALARM_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "dispatch", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def add_operator(hub: RunningHub, username: str, password: str, role: str) -> None:
    result = dispatch_cli(
        hub,
        "operator",
        "add",
        username,
        "--role",
        role,
        "--name",
        username.title(),
        stdin=password + "\n",
    )
    assert result.returncode == 0, result.stderr


def login_form(client: httpx.Client, username: str, password: str) -> httpx.Response:
    page = client.get("/login")
    match = CSRF_FIELD.search(page.text)
    assert match, "no CSRF field on the login page"
    return client.post(
        "/login", data={"username": username, "password": password, "csrf": match.group(1)}
    )


@contextmanager
def api_client(hub: RunningHub, username: str, password: str) -> Iterator[httpx.Client]:
    """An httpx client with an operator session and the X-CSRF-Token header set."""
    with httpx.Client(base_url=hub.url, follow_redirects=False, timeout=15) as client:
        response = login_form(client, username, password)
        assert response.status_code == 303, response.text
        session = client.get(f"{API}/session")
        assert session.status_code == 200, session.text
        client.headers["X-CSRF-Token"] = session.json()["csrf_token"]
        yield client


@pytest.fixture
def admin_hub(demo_hub: RunningHub) -> RunningHub:
    """The demo hub plus an admin login (created with the CLI, as on a real server)."""
    add_operator(demo_hub, *ADMIN, "admin")
    return demo_hub


@pytest.fixture
def admin(admin_hub: RunningHub) -> Iterator[httpx.Client]:
    with api_client(admin_hub, *ADMIN) as client:
        yield client


@pytest.fixture
def guard(demo_hub: RunningHub) -> Iterator[httpx.Client]:
    with api_client(demo_hub, demo_hub.login.username, demo_hub.login.password) as client:
        yield client


@pytest.fixture(scope="module")
def shared_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """One hub for a module of read-mostly checks (role and CSRF refusals change nothing)."""
    hub = start_demo_hub(
        tmp_path_factory.mktemp("hub"),
        env={"SILENT_ALARM_HEARTBEAT_INTERVAL": "1", "SILENT_ALARM_HANDSHAKE_TIMEOUT": "2"},
    )
    add_operator(hub, *ADMIN, "admin")
    add_operator(hub, *MANAGER, "emergency_manager")
    yield hub
    hub.stop()


def query(hub: RunningHub, sql: str, *params: object) -> list[tuple[object, ...]]:
    """Reads the hub's SQLite file directly (WAL allows a reader beside the running hub)."""
    path: Path = hub.data_dir / "dispatch.sqlite3"
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return list(connection.execute(sql, params))
    finally:
        connection.close()


def audit_count(hub: RunningHub) -> int:
    (count,) = query(hub, "SELECT count(*) FROM audit_events")[0]
    assert isinstance(count, int)
    return count


def audit_details(hub: RunningHub) -> str:
    """Every audit row as text, to check that no secret ever lands there."""
    return "\n".join(repr(row) for row in query(hub, "SELECT * FROM audit_events"))


# --- statistics, incidents and drills (engineer E): alarms through the real path ---------


class _Socket:
    """A WebSocket whose reader thread answers pings (as agents and the console page do)."""

    def __init__(self, connection: ClientConnection, parse: Callable[[str | bytes], BaseModel]):
        self.connection = connection
        self._parse = parse
        self._lock = threading.Lock()
        self.inbox: queue.Queue[BaseModel | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def send(self, message: BaseModel) -> None:
        with self._lock:
            self.connection.send(encode(message))

    def _read(self) -> None:
        try:
            for text in self.connection:
                message = self._parse(text)
                if isinstance(message, Ping):
                    self.send(Pong(reply_to=message.id))
                else:
                    self.inbox.put(message)
        except ConnectionClosed:
            pass
        finally:
            self.inbox.put(None)

    def next(self, what: str, where: Callable[[BaseModel], bool], timeout: float = 8) -> BaseModel:
        """The next message matching ``where``; an Error from the hub fails at once."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.inbox.get(timeout=left)
            except queue.Empty:
                break
            if message is None:
                raise AssertionError(f"connection closed while waiting for {what}")
            if isinstance(message, Error):
                raise AssertionError(f"the hub refused: {message.message}")
            if where(message):
                return message
        raise AssertionError(f"{what} not seen within {timeout} s")

    def join(self) -> None:
        self._reader.join(5)


class AlarmDriver:
    """Raises alarms from demo agents and resolves them from a guard's console socket.

    Real WebSockets against the real hub: the agent's hello, raise and receipt,
    a neighbour's answer, and the console's resolve with an incident report.
    """

    def __init__(self, hub: RunningHub) -> None:
        self.hub = hub
        self._sockets: list[_Socket] = []
        self._exit = ExitStack()
        with httpx.Client(base_url=hub.url, follow_redirects=False, timeout=15) as client:
            assert login_form(client, hub.login.username, hub.login.password).status_code == 303
            cookie = f"silent_alarm_session={client.cookies['silent_alarm_session']}"
        connection = self._exit.enter_context(
            ws_connect(
                hub.console_ws_url,
                origin=Origin(hub.url),
                additional_headers={"Cookie": cookie},
                open_timeout=5,
                proxy=None,
            )
        )
        assert isinstance(hub_to_console.validate_json(connection.recv(timeout=5)), AlarmSnapshot)
        self.console = self._open(connection, hub_to_console.validate_json)
        self._agents: dict[str, _Socket] = {}
        self._shown: set[tuple[str, uuid.UUID]] = set()

    def _open(
        self, connection: ClientConnection, parse: Callable[[str | bytes], BaseModel]
    ) -> _Socket:
        socket = _Socket(connection, parse)
        self._sockets.append(socket)
        return socket

    def agent(self, workstation_id: str) -> _Socket:
        if workstation_id not in self._agents:
            config = self.hub.agent_config(workstation_id)
            connection = self._exit.enter_context(
                ws_connect(self.hub.agent_ws_url, open_timeout=5, proxy=None)
            )
            connection.send(
                encode(
                    Hello(
                        protocol=PROTOCOL_VERSION,
                        workstation_id=workstation_id,
                        token=config["token"],
                        agent_version="test",
                        user=config["user"],
                    )
                )
            )
            assert isinstance(hub_to_agent.validate_json(connection.recv(timeout=5)), Welcome)
            self._agents[workstation_id] = self._open(connection, hub_to_agent.validate_json)
        return self._agents[workstation_id]

    def console_until(self, what: str, where: Callable[[ConsoleAlarm], bool]) -> ConsoleAlarm:
        """The first alarm_changed on the console whose alarm matches ``where``."""
        message = self.console.next(
            what, lambda m: isinstance(m, ConsoleAlarmChanged) and where(m.alarm)
        )
        assert isinstance(message, ConsoleAlarmChanged)
        return message.alarm

    def raise_alarm(
        self, raiser: str = "pc-1-01", level: AlarmLevel = AlarmLevel.THREAT, kind: str = "alarm"
    ) -> uuid.UUID:
        """Raised and stored (the raiser got alarm_stored)."""
        message = RaiseAlarm(
            alarm_id=uuid.uuid4(),
            level=level,
            trigger=Trigger.HOTKEY,
            raised_at=utc_now(),
            kind=AlarmKind(kind),
        )
        agent = self.agent(raiser)
        agent.send(message)
        agent.next(
            "alarm_stored",
            lambda m: isinstance(m, AlarmStored) and m.alarm_id == message.alarm_id,
        )
        return message.alarm_id

    def answer(self, responder: str, alarm_id: uuid.UUID, answer: Answer) -> None:
        """The recipient's popup confirms receipt, then its user answers."""
        agent = self.agent(responder)
        if (responder, alarm_id) not in self._shown:  # a second answer ("Bin da") sees no popup
            agent.next(
                "alarm_notify", lambda m: isinstance(m, AlarmNotify) and m.alarm_id == alarm_id
            )
            agent.send(Receipt(alarm_id=alarm_id))
            self._shown.add((responder, alarm_id))
        agent.send(Respond(alarm_id=alarm_id, answer=answer))
        self.console_until(
            f"{responder} answering {answer}",
            lambda alarm: (
                alarm.alarm_id == alarm_id and any(r.answer is answer for r in alarm.responders)
            ),
        )

    def resolve(self, alarm_id: uuid.UUID, report: IncidentReport | None = None) -> None:
        self.console.send(Resolve(alarm_id=alarm_id, report=report))
        self.console_until(
            f"{alarm_id} resolved",
            lambda alarm: alarm.alarm_id == alarm_id and alarm.state == "resolved",
        )

    def close(self) -> None:
        self._exit.close()
        for socket in self._sockets:
            socket.join()


@pytest.fixture
def alarm_driver(demo_hub: RunningHub) -> Iterator[AlarmDriver]:
    driver = AlarmDriver(demo_hub)
    yield driver
    driver.close()
