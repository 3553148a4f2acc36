"""WebSocket framing by hand (RFC 6455), client side: the upgrade, masked frames out, frames in."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
HEADER_LIMIT = 16 * 1024  # a server's upgrade answer is a few hundred bytes


class FrameError(Exception):
    """The server broke the protocol, or sent what this client does not take."""


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_for(key: str) -> str:
    """The Sec-WebSocket-Accept a server must answer ``key`` with."""
    digest = hashlib.sha1(key.encode("ascii") + GUID).digest()  # noqa: S324 - RFC 6455
    return base64.b64encode(digest).decode("ascii")


def upgrade_request(host: str, port: int, path: str, key: str, extra: dict[str, str]) -> bytes:
    """The client's opening handshake; no extensions, so frames are never compressed."""
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in extra.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


@dataclass(frozen=True)
class UpgradeResponse:
    status: int
    headers: dict[str, str]  # names in lower case
    length: int  # bytes of the head, the blank line included


def parse_upgrade_response(buffer: bytes) -> UpgradeResponse | None:
    """The server's answer once its head is complete (None until then)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > HEADER_LIMIT:
            raise FrameError("upgrade answer head too long")
        return None
    status_line, *header_lines = buffer[:end].decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise FrameError("not an HTTP status line")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise FrameError("header line without a colon")
        headers[name.strip().lower()] = value.strip()
    return UpgradeResponse(int(parts[1]), headers, end + 4)


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR with the 4-byte key, as one big integer: far faster in Python than per byte."""
    n = len(payload)
    if n == 0:
        return b""
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def encode_frame(opcode: int, payload: bytes, key: bytes | None = None) -> bytes:
    """One final client frame: always masked (RFC 6455 5.3), with a fresh key unless given."""
    key = os.urandom(4) if key is None else key
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + key + mask(payload, key)


def close_payload(code: int, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode("utf-8")


def close_code(payload: bytes) -> int | None:
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None


class FrameReader:
    """Frames from a server (unmasked, unfragmented), taken from the bytes fed in."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Every frame ``data`` completes, as (opcode, payload); a partial one waits."""
        buf = self._buffer
        buf += data
        frames: list[tuple[int, bytes]] = []
        pos = 0
        while len(buf) - pos >= 2:
            first, second = buf[pos], buf[pos + 1]
            if first & 0x70:
                raise FrameError("reserved bits set (no extension was agreed)")
            if not first & 0x80 or (first & 0x0F) == 0:
                raise FrameError("fragmented message (the servers measured send none)")
            if second & 0x80:
                raise FrameError("masked frame from a server")
            n, head = second & 0x7F, 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                n, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                n, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if n > self.max_size:
                raise FrameError(f"frame of {n} bytes over the limit of {self.max_size}")
            if len(buf) - pos < head + n:
                break
            frames.append((first & 0x0F, bytes(buf[pos + head : pos + head + n])))
            pos += head + n
        del buf[:pos]
        return frames
