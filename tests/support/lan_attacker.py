"""An attacker on the office LAN without a login, on a loopback address of its own.

The hub listens on 127.0.0.1; the attacker binds its sockets to another
loopback source address (127.0.0.2 — Linux routes all of 127/8 to lo), so
limits per address can be told apart from the real agents on 127.0.0.1.
Every loop here is bounded in count and time.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

ATTACKER_ADDRESS = "127.0.0.2"


def attacker_socket(port: int, timeout: float = 5.0) -> socket.socket:
    """A TCP connection to the hub on 127.0.0.1 from the attacker's address."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.bind((ATTACKER_ADDRESS, 0))
    sock.connect(("127.0.0.1", port))
    return sock


@dataclass
class StreamedRequest:
    status: int | None  # None: the hub closed without an answer
    sent: int  # body bytes sent when the answer arrived (or the connection ended)
    answer: bytes  # the whole answer as received (head and body)


def body_of(size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """``size`` bytes of filler, made as they are sent (never held whole)."""
    block = b"a" * chunk
    left = size
    while left > 0:
        yield block[: min(chunk, left)]
        left -= chunk


def chunked(parts: Iterable[bytes]) -> Iterator[bytes]:
    """HTTP/1.1 chunked transfer coding of ``parts``."""
    for part in parts:
        yield b"%x\r\n%s\r\n" % (len(part), part)
    yield b"0\r\n\r\n"


def stream_request(
    port: int, head: bytes, body: Iterable[bytes], timeout: float = 60.0
) -> StreamedRequest:
    """Sends ``head`` and then ``body`` as fast as the hub takes it, reading any answer
    meanwhile; stops sending as soon as an answer starts or the hub closes.

    This is how to see that the hub answered before it read the body: ``sent``
    counts the body bytes written when the answer came.
    """
    sock = attacker_socket(port)
    sock.sendall(head)
    sock.setblocking(False)
    parts = iter(body)
    pending = b""
    sent = 0
    answer = b""
    answered_at_sent: int | None = None
    deadline = time.monotonic() + timeout
    with sock, selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
        sending = True
        while time.monotonic() < deadline:
            for _, events in selector.select(timeout=1.0):
                if events & selectors.EVENT_READ:
                    try:
                        data = sock.recv(65536)
                    except ConnectionError:
                        data = b""
                    if not data:
                        return _finish(answer, answered_at_sent, sent)
                    if answered_at_sent is None:
                        answered_at_sent = sent
                    answer += data
                    if sending:
                        sending = False
                        selector.modify(sock, selectors.EVENT_READ)
                if sending and events & selectors.EVENT_WRITE:
                    if not pending:
                        pending = next(parts, b"")
                        if not pending:
                            sending = False
                            selector.modify(sock, selectors.EVENT_READ)
                            continue
                    try:
                        written = sock.send(pending)
                    except ConnectionError:
                        return _finish(answer, answered_at_sent, sent)
                    pending = pending[written:]
                    sent += written
        raise TimeoutError(f"no answer within {timeout} s ({sent} bytes sent)")


def _finish(answer: bytes, answered_at_sent: int | None, sent: int) -> StreamedRequest:
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None
    return StreamedRequest(status, sent if answered_at_sent is None else answered_at_sent, answer)


def post_head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def peak_rss_bytes(pid: int) -> int:
    """The process's high-water mark of resident memory (VmHWM)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


def open_descriptors(pid: int) -> int:
    with contextlib.suppress(FileNotFoundError):
        return len(os.listdir(f"/proc/{pid}/fd"))
    return 0
