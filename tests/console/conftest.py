"""The console against a real hub: agents as plain WebSockets beside the browser.

The browser fixtures (`page`, `logged_in_page`) come from tests/support/browser.py;
every test here that opens a browser fails when a page reports an error (`page_errors`).
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TypeVar

import httpx
import pytest
from playwright.sync_api import (
    BrowserContext,
    Locator,
    Page,
)
from pydantic import BaseModel
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from shared.protocol import (
    PROTOCOL_VERSION,
    Hello,
    Ping,
    Pong,
    Welcome,
    encode,
    hub_to_agent,
)
from tests.console.page_errors import PageErrors
from tests.support.hub import RunningHub

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')

M = TypeVar("M", bound=BaseModel)


# --- the browser's own reports -------------------------------------------------------


@pytest.fixture(autouse=True)
def page_errors(request: pytest.FixtureRequest) -> Iterator[PageErrors | None]:
    """Fails a test whose pages logged a CSP violation, an Alpine error or an uncaught
    exception, however the test itself went; None for tests without a browser."""
    if "browser_context" not in request.fixturenames:
        yield None
        return
    context: BrowserContext = request.getfixturevalue("browser_context")
    errors = PageErrors(context)
    yield errors
    errors.assert_none()


# --- HTTP and WebSocket clients ------------------------------------------------------


def csrf_of(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)


@contextmanager
def http_login(hub: RunningHub) -> Iterator[httpx.Client]:
    """An httpx client holding a logged-in operator session."""
    with httpx.Client(base_url=hub.url, follow_redirects=False, timeout=10) as client:
        csrf = csrf_of(client.get("/login").text)
        response = client.post(
            "/login",
            data={"username": hub.login.username, "password": hub.login.password, "csrf": csrf},
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/console"
        yield client


class TestAgent:
    """A workstation's agent speaking the real protocol; answers the hub's pings by itself."""

    __test__ = False  # not a test class despite the name

    def __init__(self, hub: RunningHub, workstation_id: str, user: str | None = None) -> None:
        config = hub.agent_config(workstation_id)
        self.workstation_id = workstation_id
        self._exit = ExitStack()
        self._socket: ClientConnection = self._exit.enter_context(
            connect(hub.agent_ws_url, open_timeout=5, close_timeout=2, proxy=None)
        )
        self._send_lock = threading.Lock()
        self.inbox: queue.Queue[BaseModel | None] = queue.Queue()
        self.send(
            Hello(
                protocol=PROTOCOL_VERSION,
                workstation_id=workstation_id,
                token=config["token"],
                agent_version="test",
                user=user if user is not None else config["user"],
            )
        )
        self.welcome = self._parse(self._socket.recv(timeout=5))
        assert isinstance(self.welcome, Welcome), self.welcome
        self._reader = threading.Thread(target=self._read, name=f"agent:{workstation_id}")
        self._reader.start()

    @staticmethod
    def _parse(text: str | bytes) -> BaseModel:
        message: BaseModel = hub_to_agent.validate_json(text)
        return message

    def send(self, message: BaseModel) -> None:
        with self._send_lock:
            self._socket.send(encode(message))

    def _read(self) -> None:
        try:
            for text in self._socket:
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
        """The next message of ``kind`` that matches ``where``; others are skipped."""
        deadline = time.monotonic() + timeout
        skipped: list[str] = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.inbox.get(timeout=left)
            except queue.Empty:
                break
            if message is None:
                raise AssertionError(f"{self.workstation_id}: connection closed; saw {skipped}")
            if isinstance(message, kind) and where(message):
                return message
            skipped.append(getattr(message, "type", type(message).__name__))
        raise AssertionError(
            f"{self.workstation_id}: no {kind.__name__} within {timeout} s; saw {skipped}"
        )

    def close(self) -> None:
        self._exit.close()
        self._reader.join(5)


@pytest.fixture
def agents(demo_hub: RunningHub) -> Iterator[Callable[..., TestAgent]]:
    """``agents("pc-1-01")`` connects that demo workstation; all are closed afterwards."""
    opened: list[TestAgent] = []

    def open_agent(workstation_id: str, user: str | None = None) -> TestAgent:
        agent = TestAgent(demo_hub, workstation_id, user)
        opened.append(agent)
        return agent

    yield open_agent
    for agent in opened:
        agent.close()


def row_of(page: Page, alarm_id: object) -> Locator:
    """The alarm's row in the active list (a Playwright locator)."""
    return page.get_by_test_id("active-alarms").locator(f'[data-alarm-id="{alarm_id}"]')


# --- admin pages (D) -----------------------------------------------------------------

ADMIN_LOGIN = ("admin", "admin-passwort-1234")


def log_in_as(page: Page, hub: RunningHub, username: str, password: str) -> None:
    """Fills the real login form as any operator (browser.log_in is the demo guard's)."""
    from playwright.sync_api import expect

    page.goto(f"{hub.url}/login")
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort").fill(password)
    page.get_by_role("button", name="Anmelden").click()
    expect(page).to_have_url(f"{hub.url}/console")


@pytest.fixture
def admin_api(demo_hub: RunningHub) -> Iterator[httpx.Client]:
    """The demo hub plus an admin made with the CLI; an API client with that admin's session."""
    from tests.api.conftest import add_operator, api_client

    add_operator(demo_hub, *ADMIN_LOGIN, "admin")
    with api_client(demo_hub, *ADMIN_LOGIN) as client:
        yield client


@pytest.fixture
def admin_page(page: Page, demo_hub: RunningHub, admin_api: httpx.Client) -> Page:
    """A browser page logged in as the admin (the console first, as after a real login)."""
    log_in_as(page, demo_hub, *ADMIN_LOGIN)
    return page
