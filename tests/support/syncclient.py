"""Blocking WebSocket clients of the real hub, for tests without an event loop (the browser
tests, the API's alarm driver): a reader thread answers the hub's pings, as agents and
the console page do, and queues every other message for ``expect``."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import TypeVar

import httpx
from pydantic import BaseModel
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from shared.protocol import (
    AlarmSnapshot,
    Error,
    Ping,
    Pong,
    Welcome,
    encode,
    hub_to_agent,
    hub_to_console,
)
from tests.support.hub import RunningHub
from tests.support.login import SESSION_COOKIE, login_form
from tests.support.wsclient import agent_hello

M = TypeVar("M", bound=BaseModel)
Parse = Callable[[str | bytes], BaseModel]


class ThreadedSocket:
    """One open WebSocket: sends under a lock, reads on a thread of its own."""

    def __init__(
        self, opened: ExitStack, connection: ClientConnection, parse: Parse, name: str
    ) -> None:
        self.name = name
        self._opened = opened  # connect() is a context manager; closing it closes the socket
        self._connection = connection
        self._parse = parse
        self._send_lock = threading.Lock()
        self.inbox: queue.Queue[BaseModel | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=name, daemon=True)
        self._reader.start()

    def send(self, message: BaseModel) -> None:
        with self._send_lock:
            self._connection.send(encode(message))

    def _read(self) -> None:
        try:
            for text in self._connection:
                message = self._parse(text)
                if isinstance(message, Ping):
                    self.send(Pong(reply_to=message.id))
                else:
                    self.inbox.put(message)
        except ConnectionClosed:
            pass
        finally:
            self.inbox.put(None)

    def expect(
        self, kind: type[M], where: Callable[[M], bool] = lambda _: True, timeout: float = 5
    ) -> M:
        """The next message of ``kind`` that matches ``where``; others are skipped.

        A closed connection fails at once, and so does an Error from the hub unless
        an Error is what the test waits for.
        """
        deadline = time.monotonic() + timeout
        skipped: list[str] = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.inbox.get(timeout=left)
            except queue.Empty:
                break
            if message is None:
                raise AssertionError(f"{self.name}: connection closed; saw {skipped}")
            if isinstance(message, Error) and kind is not Error:
                raise AssertionError(f"{self.name}: the hub refused: {message.message}")
            if isinstance(message, kind) and where(message):
                return message
            skipped.append(getattr(message, "type", type(message).__name__))
        raise AssertionError(f"{self.name}: no {kind.__name__} within {timeout} s; saw {skipped}")

    def close(self) -> None:
        self._opened.close()
        self._reader.join(5)


class TestAgent(ThreadedSocket):
    """A demo workstation's agent speaking the real protocol, welcomed by the hub."""

    __test__ = False  # not a test class despite the name

    def __init__(self, hub: RunningHub, workstation_id: str, user: str | None = None) -> None:
        config = hub.agent_config(workstation_id)
        self.workstation_id = workstation_id
        opened = ExitStack()
        connection = opened.enter_context(
            connect(hub.agent_ws_url, open_timeout=5, close_timeout=2, proxy=None)
        )
        try:
            user = user if user is not None else config["user"]
            connection.send(encode(agent_hello(workstation_id, config["token"], user)))
            welcome = hub_to_agent.validate_json(connection.recv(timeout=5))
            assert isinstance(welcome, Welcome), welcome
        except BaseException:  # refused or timed out: never leave the socket open
            opened.close()
            raise
        self.welcome = welcome
        super().__init__(opened, connection, hub_to_agent.validate_json, f"agent:{workstation_id}")


class ConsoleSocket(ThreadedSocket):
    """The console's WebSocket with an operator's session, as the console page opens it."""

    def __init__(self, hub: RunningHub, username: str, password: str) -> None:
        with httpx.Client(base_url=hub.url, follow_redirects=False, timeout=15) as client:
            assert login_form(client, username, password).status_code == 303
            cookie = f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"
        opened = ExitStack()
        connection = opened.enter_context(
            connect(
                hub.console_ws_url,
                origin=Origin(hub.url),
                additional_headers={"Cookie": cookie},
                open_timeout=5,
                close_timeout=2,
                proxy=None,
            )
        )
        try:
            snapshot = hub_to_console.validate_json(connection.recv(timeout=5))
            assert isinstance(snapshot, AlarmSnapshot), snapshot
        except BaseException:
            opened.close()
            raise
        self.snapshot = snapshot
        super().__init__(opened, connection, hub_to_console.validate_json, f"console:{username}")
