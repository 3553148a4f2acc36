"""Who may connect: hello first, known workstation, right token, a protocol the hub speaks."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from shared.domain import AlarmState
from shared.protocol import (
    PROTOCOL_VERSION,
    AlarmStored,
    AlarmUpdate,
    CloseCode,
    Hello,
    Ping,
    Pong,
    Welcome,
    encode,
)
from tests.integration.conftest import Connect
from tests.support.hub import RunningHub, query
from tests.support.waiting import until
from tests.support.wsclient import wait_closed


async def closed_with(url: str, *frames: str | bytes, timeout: float = 8) -> tuple[int, str]:
    """Sends the frames, then waits (bounded) for the hub to close; returns code and reason."""
    async with websockets.connect(url, max_size=None) as ws:
        for frame in frames:
            await ws.send(frame)
        return await wait_closed(ws, timeout)


async def disconnect_logged(hub: RunningHub, workstation_id: str, within: float) -> None:
    """Waits (bounded) for the hub's log to say this workstation's agent is gone."""
    line = f'"workstation": "{workstation_id}", "event": "agent_disconnected"'
    await until(lambda: line in hub.log(), within, 0.05, f"{workstation_id}'s agent gone")


def hello(workstation_id: str, token: str, protocol: int = PROTOCOL_VERSION) -> str:
    return encode(
        Hello(protocol=protocol, workstation_id=workstation_id, token=token, agent_version="t")
    )


async def test_wrong_token_is_refused_with_4401(demo_hub: RunningHub) -> None:
    code, reason = await closed_with(demo_hub.agent_ws_url, hello("pc-1-01", "not-the-token"))
    assert code == CloseCode.UNAUTHORIZED
    assert "token" in reason


async def test_unknown_workstation_is_refused_with_4401(demo_hub: RunningHub) -> None:
    code, _ = await closed_with(demo_hub.agent_ws_url, hello("pc-9-99", "whatever"))
    assert code == CloseCode.UNAUTHORIZED


async def test_token_never_reaches_the_log(demo_hub: RunningHub) -> None:
    token = demo_hub.agent_config("pc-1-01")["token"]
    await closed_with(demo_hub.agent_ws_url, hello("pc-1-01", token + "x"))
    await closed_with(demo_hub.agent_ws_url, hello("pc-1-01", token), Ping().model_dump_json()[:5])
    assert token not in demo_hub.log()


async def test_the_log_says_agent_connected_and_disconnected_and_no_server_lines(
    demo_hub: RunningHub,
) -> None:
    """uvicorn and websockets log every socket opened, accepted and closed at INFO: after
    a restart, ten thousand agents would write tens of thousands of such lines."""
    token = demo_hub.agent_config("pc-1-02")["token"]
    async with websockets.connect(demo_hub.agent_ws_url) as ws:
        await ws.send(hello("pc-1-02", token))
        Welcome.model_validate_json(await ws.recv())
    await disconnect_logged(demo_hub, "pc-1-02", within=10)
    log = demo_hub.log()
    assert '"workstation": "pc-1-02", "event": "agent_connected"' in log
    for server_line in ("connection open", "connection closed", "[accepted]", "WebSocket /ws"):
        assert server_line not in log


async def test_unsupported_protocol_version_is_refused_with_4426(demo_hub: RunningHub) -> None:
    token = demo_hub.agent_config("pc-1-01")["token"]
    code, reason = await closed_with(demo_hub.agent_ws_url, hello("pc-1-01", token, protocol=99))
    assert code == CloseCode.UNSUPPORTED_VERSION
    assert "99" in reason


async def test_anything_before_hello_is_a_protocol_error(demo_hub: RunningHub) -> None:
    code, reason = await closed_with(demo_hub.agent_ws_url, encode(Ping()))
    assert code == CloseCode.PROTOCOL_ERROR
    assert "hello" in reason


async def test_silence_after_connect_closes_with_handshake_timeout(demo_hub: RunningHub) -> None:
    code, _ = await closed_with(demo_hub.agent_ws_url)  # the test hub waits 2 s for hello
    assert code == CloseCode.HANDSHAKE_TIMEOUT


async def test_frozen_agent_is_closed_within_two_intervals(
    demo_hub: RunningHub,
) -> None:
    """The hub's WebSocket pings go unanswered: a frozen PC or a half-open connection."""
    token = demo_hub.agent_config("pc-1-01")["token"]
    async with websockets.connect(demo_hub.agent_ws_url) as ws:
        await ws.send(hello("pc-1-01", token))
        welcome = Welcome.model_validate_json(await ws.recv())
        assert welcome.keepalive == "websocket"
        loop = asyncio.get_running_loop()
        frozen_at = loop.time()
        ws.transport.pause_reading()  # reads nothing more, so answers no ping
        await disconnect_logged(demo_hub, "pc-1-01", within=3 * welcome.heartbeat_interval + 2)
        # Last pong at most one interval before freezing, closed an interval after
        # the next ping: 2 intervals, plus the round trip of the log.
        assert loop.time() - frozen_at < 2 * welcome.heartbeat_interval + 1


async def test_idle_agent_that_answers_pings_stays_connected(demo_hub: RunningHub) -> None:
    """An agent sends nothing while idle; its WebSocket library answers the pings.

    A frozen agent connected after it is the yardstick: once the hub has closed that
    one, it has had longer to close the idle one, whether for silence or for pongs."""
    tokens = {ws: demo_hub.agent_config(ws)["token"] for ws in ("pc-1-01", "pc-1-02")}
    async with websockets.connect(demo_hub.agent_ws_url, ping_interval=None) as idle:
        await idle.send(hello("pc-1-01", tokens["pc-1-01"]))
        welcome = Welcome.model_validate_json(await idle.recv())
        async with websockets.connect(demo_hub.agent_ws_url) as frozen:
            await frozen.send(hello("pc-1-02", tokens["pc-1-02"]))
            Welcome.model_validate_json(await frozen.recv())
            frozen.transport.pause_reading()
            await disconnect_logged(demo_hub, "pc-1-02", within=3 * welcome.heartbeat_interval + 2)
        ping = Ping()
        await idle.send(encode(ping))
        # Answered: still connected, and nothing came before the answer.
        assert Pong.model_validate_json(await idle.recv()).reply_to == ping.id


@pytest.mark.parametrize(
    "garbage",
    [
        "not json",
        '{"type": "raise_alarm", "id": "x"}',
        '{"type": "launch_missiles", "id": "x"}',
        b"\x00\x01binary",
    ],
    ids=["not-json", "missing-fields", "unknown-type", "binary"],
)
async def test_malformed_message_closes_with_reason_and_keeps_stored_alarms(
    agent: Connect, demo_hub: RunningHub, garbage: str | bytes
) -> None:
    raiser = await agent("pc-1-01")
    sent = await raiser.raise_alarm()
    await raiser.expect(AlarmStored)

    await raiser.connection.send(garbage)
    code, reason = await wait_closed(raiser.connection)
    assert code == CloseCode.PROTOCOL_ERROR
    assert reason

    again = await agent("pc-1-01")
    assert (await again.expect(AlarmUpdate, alarm_id=sent.alarm_id)).state is AlarmState.ACTIVE
    assert query(demo_hub, "SELECT count(*) FROM alarms") == [(1,)]


async def test_oversized_message_closes_with_1009_and_keeps_stored_alarms(
    agent: Connect, demo_hub: RunningHub
) -> None:
    raiser = await agent("pc-1-01")
    sent = await raiser.raise_alarm()
    await raiser.expect(AlarmStored)

    await raiser.connection.send('{"type": "ping", "id": "' + "x" * 70_000 + '"}')
    with pytest.raises(ConnectionClosed) as closed:
        await raiser.expect(AlarmStored)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CloseCode.MESSAGE_TOO_BIG

    again = await agent("pc-1-01")
    assert (await again.expect(AlarmUpdate, alarm_id=sent.alarm_id)).alarm_id == sent.alarm_id
    assert query(demo_hub, "SELECT count(*) FROM alarms") == [(1,)]


async def test_revoking_from_the_shell_closes_the_live_socket(
    agent: Connect, demo_hub: RunningHub
) -> None:
    import os
    import sys

    connected = await agent("pc-1-03")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SILENT_ALARM_")}
    revoke = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatch", "workstation", "revoke", "pc-1-03",
        env={**env, "SILENT_ALARM_DATA_DIR": str(demo_hub.data_dir)},
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        _, stderr = await revoke.communicate()
    assert revoke.returncode == 0, stderr
    code, _ = await wait_closed(connected.connection, timeout=5)  # one heartbeat round: 1 s
    assert code == CloseCode.REVOKED
    token = demo_hub.agent_config("pc-1-03")["token"]
    refused, _ = await closed_with(demo_hub.agent_ws_url, hello("pc-1-03", token))
    assert refused == CloseCode.UNAUTHORIZED
