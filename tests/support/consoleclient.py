"""A real console WebSocket client: logs in like a browser, then speaks the console protocol."""

from __future__ import annotations

import asyncio

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from shared.protocol import AlarmSnapshot, hub_to_console
from tests.support.hub import RunningHub
from tests.support.login import SESSION_COOKIE, csrf_of
from tests.support.wsclient import ProtocolClient


class ConsoleClient(ProtocolClient):
    channel = hub_to_console

    def __init__(self, connection: ClientConnection, snapshot: AlarmSnapshot) -> None:
        super().__init__(connection)
        self.snapshot = snapshot


async def connect_console(
    hub: RunningHub, username: str | None = None, password: str | None = None
) -> ConsoleClient:
    """Logs in (the demo guard by default) and opens /ws/console with the cookie and Origin."""
    username = username or hub.login.username
    password = password or hub.login.password
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        csrf = csrf_of((await http.get("/login")).text)
        response = await http.post(
            "/login", data={"username": username, "password": password, "csrf": csrf}
        )
        assert response.status_code == 303, response.text
        cookie = http.cookies[SESSION_COOKIE]
    connection = await websockets.connect(
        hub.console_ws_url,
        origin=hub.url,  # type: ignore[arg-type]
        additional_headers={"Cookie": f"{SESSION_COOKIE}={cookie}"},
        open_timeout=5,
    )
    async with asyncio.timeout(5):
        snapshot = hub_to_console.validate_json(await connection.recv())
    assert isinstance(snapshot, AlarmSnapshot), snapshot
    return ConsoleClient(connection, snapshot)
