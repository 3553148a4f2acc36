"""A peer sends at once when it can, in order when the socket pushes back, held while it joins."""

from __future__ import annotations

import asyncio
from typing import cast

from starlette.websockets import WebSocket, WebSocketState

from dispatch.net.connection import FRAME_WRITER, text_frame
from dispatch.net.peers import SEND_QUEUE_LIMIT, Peer
from shared.protocol import AlarmSnapshot, CloseCode, Ping
from tests.support.waiting import until


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
    await peer.close(1000, "")
    peer.send(Ping())
    await asyncio.sleep(0)
    assert socket.sent == []


class RecordingWriter:
    """Stands in for dispatch.net.connection.HubWebSocketProtocol: a socket that may push back."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.open = True
        self._writable = asyncio.Event()
        self._writable.set()

    def push_back(self, full: bool) -> None:
        if full:
            self._writable.clear()
        else:
            self._writable.set()

    def can_write_now(self) -> bool:
        return self._writable.is_set()

    async def wait_writable(self) -> None:
        await self._writable.wait()

    def write_frame(self, frame: bytes) -> bool:
        if not self.open:
            return False
        self.frames.append(frame)
        return True


class ClosableSocket(RecordingSocket):
    def __init__(self, writer: RecordingWriter) -> None:
        super().__init__()
        self.scope = {"type": "websocket", "extensions": {FRAME_WRITER: writer}}
        self.closed_with: tuple[int, str] | None = None

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)
        self.application_state = WebSocketState.DISCONNECTED


async def test_messages_are_written_at_once_and_one_frame_serves_every_peer() -> None:
    first, second = RecordingWriter(), RecordingWriter()
    a = Peer(cast(WebSocket, ClosableSocket(first)), "a")
    b = Peer(cast(WebSocket, ClosableSocket(second)), "b")
    text = '{"type":"alarm_notify","n":1}'
    a.send(text)
    b.send(text)
    # Written before the sender yields to the loop: no task, no queue in between.
    assert first.frames
    assert second.frames
    assert first.frames[0] is second.frames[0]
    assert first.frames[0] == text_frame(text)


async def test_while_the_socket_pushes_back_messages_wait_in_order() -> None:
    writer = RecordingWriter()
    peer = Peer(cast(WebSocket, ClosableSocket(writer)), "slow")
    peer.send('{"n":1}')
    writer.push_back(True)
    peer.send('{"n":2}')
    peer.send('{"n":3}')
    writer.push_back(False)  # writable again, but 2 and 3 still wait: 4 must queue behind
    peer.send('{"n":4}')
    await until(lambda: len(writer.frames) == 4, timeout=2, interval=0)
    assert writer.frames == [text_frame(f'{{"n":{n}}}') for n in (1, 2, 3, 4)]


async def test_a_peer_that_stays_full_is_closed_as_too_slow() -> None:
    writer = RecordingWriter()
    socket = ClosableSocket(writer)
    peer = Peer(cast(WebSocket, socket), "stuck")
    writer.push_back(True)
    for n in range(SEND_QUEUE_LIMIT + 1):
        peer.send(f'{{"n":{n}}}')
    code, _ = await until(lambda: socket.closed_with, timeout=2, interval=0)
    assert code == CloseCode.TOO_SLOW
    assert peer.closed


async def test_a_write_to_a_closing_connection_marks_the_peer_closed() -> None:
    writer = RecordingWriter()
    peer = Peer(cast(WebSocket, ClosableSocket(writer)), "gone")
    writer.open = False
    peer.send('{"n":1}')
    assert peer.closed
    peer.send('{"n":2}')
    assert writer.frames == []
