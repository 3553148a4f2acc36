"""A peer's send queue: order is kept, and what arrives while a peer joins waits for its replay."""

from __future__ import annotations

import asyncio
from typing import cast

from starlette.websockets import WebSocket, WebSocketState

from dispatch.peers import Peer
from shared.protocol import AlarmSnapshot, Ping


class RecordingSocket:
    """Stands in for the network end; the hub's real sockets are covered in tests/integration."""

    application_state = WebSocketState.CONNECTED

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.more = asyncio.Event()

    async def send_text(self, text: str) -> None:
        self.sent.append(text)
        self.more.set()


async def drained(socket: RecordingSocket, count: int) -> list[str]:
    async with asyncio.timeout(2):
        while len(socket.sent) < count:
            socket.more.clear()
            await socket.more.wait()
    return socket.sent


async def test_messages_held_while_joining_follow_the_replay() -> None:
    socket = RecordingSocket()
    peer = Peer(cast(WebSocket, socket), "test")
    peer.start()
    peer.hold()
    peer.send('{"type":"alarm_changed","n":1}')  # a change committed during the snapshot read
    peer.release(AlarmSnapshot(alarms=[]))
    peer.send('{"type":"alarm_changed","n":2}')
    sent = await drained(socket, 3)
    assert [s.split('"type":"')[1].split('"')[0] for s in sent] == [
        "alarm_snapshot",
        "alarm_changed",
        "alarm_changed",
    ]
    assert sent[1].endswith('"n":1}')
    assert sent[2].endswith('"n":2}')
    await peer.close(1000, "")


async def test_send_after_close_is_ignored() -> None:
    socket = RecordingSocket()
    peer = Peer(cast(WebSocket, socket), "test")
    peer.start()
    await peer.close(1000, "")
    peer.send(Ping())
    await asyncio.sleep(0)
    assert socket.sent == []
