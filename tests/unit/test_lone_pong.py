"""The pong fast path: only a whole empty pong between frames skips websockets' parser.

Runs websockets' own sans-I/O server protocol with the installed release, so a
release whose parser waits elsewhere fails the first test (the fast path would
silently stop working) rather than misreading a frame.
"""

from __future__ import annotations

import base64
import os

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from dispatch.net.connection import is_lone_pong


def opened() -> ServerProtocol:
    server = ServerProtocol()
    key = base64.b64encode(os.urandom(16)).decode()
    server.receive_data(
        (
            "GET /ws/agent HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    (request,) = server.events_received()
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    server.data_to_send()
    return server


def client_frame(opcode: Opcode, data: bytes = b"") -> bytes:
    return Frame(opcode, data).serialize(mask=True)


def test_an_empty_pong_between_frames_needs_no_parsing() -> None:
    server = opened()
    assert is_lone_pong(server, client_frame(Opcode.PONG))
    server.receive_data(client_frame(Opcode.TEXT, b'{"type":"receipt"}'))
    server.events_received()
    assert is_lone_pong(server, client_frame(Opcode.PONG))  # after a whole frame too


def test_bytes_that_look_like_a_pong_inside_a_frame_go_to_the_parser() -> None:
    server = opened()
    text = client_frame(Opcode.TEXT, b"x" * 40)
    server.receive_data(text[:6])  # header and mask: the parser now waits for the payload
    assert not is_lone_pong(server, client_frame(Opcode.PONG))
    server.receive_data(text[6:])
    (frame,) = server.events_received()
    assert isinstance(frame, Frame)
    assert frame.data == b"x" * 40


def test_other_frames_go_to_the_parser() -> None:
    server = opened()
    assert not is_lone_pong(server, client_frame(Opcode.PONG, b"abcd"))  # a payload
    assert not is_lone_pong(server, client_frame(Opcode.PING))
    assert not is_lone_pong(server, client_frame(Opcode.PONG) + client_frame(Opcode.PONG))
    server.receive_data(client_frame(Opcode.TEXT, b"x" * 40)[:1])  # half a header buffered
    assert not is_lone_pong(server, client_frame(Opcode.PONG))
