"""A console socket may not outlive its operator's session."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import websockets
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from shared.protocol import CloseCode, Ping, Pong, encode, hub_to_console
from tests.support.hub import start_demo_hub
from tests.support.login import http_login


def test_console_socket_is_closed_when_the_session_expires(tmp_path: Path) -> None:
    hub = start_demo_hub(
        tmp_path / "hub",
        env={"SILENT_ALARM_SESSION_MAX_AGE": "2", "SILENT_ALARM_HEARTBEAT_INTERVAL": "0.5"},
    )
    try:
        with http_login(hub) as client:
            cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())

        async def watch() -> tuple[int, str, float]:
            async with websockets.connect(
                hub.console_ws_url, origin=Origin(hub.url), additional_headers={"Cookie": cookie}
            ) as ws:
                opened = time.monotonic()
                snapshot = hub_to_console.validate_json(await ws.recv())
                assert snapshot.type == "alarm_snapshot"
                # Answer pings as the console page does, so only the session can end it.
                with contextlib.suppress(ConnectionClosed):
                    async with asyncio.timeout(6):
                        async for text in ws:
                            message = hub_to_console.validate_json(text)
                            if isinstance(message, Ping):
                                await ws.send(encode(Pong(reply_to=message.id)))
                assert ws.close_code is not None
                return ws.close_code, ws.close_reason or "", time.monotonic() - opened

        code, reason, after = asyncio.run(watch())
        assert code == CloseCode.UNAUTHORIZED
        assert reason == "session expired"
        assert after < 4  # 2 s session + at most one 0.5 s round, with margin for load
    finally:
        hub.stop()
