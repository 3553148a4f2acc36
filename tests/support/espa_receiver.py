"""A local ESPA 4.4.4 receiver: the paging system's side of the line, for the tests.

It answers the control station's selection ('1' ENQ '2' ENQ), checks each data
block's framing and BCC, answers ACK or NAK, and records every call it accepted
(number, text). A test can make it NAK the next blocks, refuse numbers (NAK 3),
decline selections (EOT), drop the line, stay silent, or report a call status when
polled. It serves a loopback TCP port (as a DECT system's ESPA-over-IP port or a
serial-to-LAN converter does) or a pty pair from ``os.openpty()``, which stands in
for the RS-232 cable to the paging system's serial port.

The framing here is written out on its own, not taken from dispatch.channels, so a
mistake there cannot hide itself by being made on both sides.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

SOH, STX, ETX, EOT, ENQ, ACK, NAK, RS, US = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x15, 0x1E, 0x1F
GERMAN_7BIT = {"@": "§", "[": "Ä", "\\": "Ö", "]": "Ü", "{": "ä", "|": "ö", "}": "ü", "~": "ß"}
"""DIN 66003: what a German 7-bit display shows at these ASCII code points."""


@dataclass(frozen=True)
class ReceivedCall:
    number: str
    text: str  # as the handset's display shows it
    records: dict[str, bytes]


@dataclass
class EspaReceiver:
    """The paging system. Its settings may be changed by a test between calls."""

    charset: Literal["ascii", "din66003", "latin1"] = "ascii"
    address: str = "2"
    control_station: str = "1"
    nak_blocks: int = 0  # answer this many blocks NAK before taking one
    nak_reason: str = "1"  # the digit before those NAKs; "" for a bare NAK
    reject: set[str] = field(default_factory=set)  # numbers answered NAK 3
    decline_selections: int = 0  # answer this many selections EOT (not ready)
    drop_on_select: bool = False  # close the line when selected
    drop_after_call: bool = False  # close the line right after ACKing a call
    silent: bool = False  # read everything, answer nothing
    silent_blocks: bool = False  # answer selections, never a data block
    status: str | None = None  # the call status to report, when polled, for each call
    corrupt_status: int = 0  # send this many status blocks with a wrong BCC first

    calls: list[ReceivedCall] = field(default_factory=list)
    blocks: list[bytes] = field(default_factory=list)  # every block on the line, in order
    refused: list[str] = field(default_factory=list)  # why each NAKed block was NAKed
    selections: int = 0
    polls: int = 0
    status_answers: list[bytes] = field(default_factory=list)  # the hub's, to status blocks
    errors: list[BaseException] = field(default_factory=list)
    _status_due: list[tuple[str, str]] = field(default_factory=list)

    async def serve_line(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answers one line until it closes."""
        selecting = False
        try:
            while True:
                byte = (await reader.readexactly(1))[0]
                if self.silent:
                    continue
                if byte == EOT:
                    selecting = False
                elif 0x30 <= byte <= 0x39 and (await reader.readexactly(1))[0] == ENQ:
                    station = chr(byte)
                    if station == self.control_station:
                        selecting = True  # the control station takes the line to select
                    elif station == self.address and selecting:
                        selecting = False
                        if not await self._selected(reader, writer):
                            return
                    elif station == self.address:
                        await self._polled(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        except Exception as error:  # a fault of the receiver itself fails the test at its end
            self.errors.append(error)
        finally:
            writer.close()

    async def _selected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Takes the control station's blocks until its EOT; False when it drops the line."""
        self.selections += 1
        if self.drop_on_select:
            writer.close()
            return False
        if self.decline_selections:
            self.decline_selections -= 1
            await _send(writer, bytes([EOT]))
            return True
        await _send(writer, bytes([ACK]))
        while (frame := await _read_block(reader)) is not None:
            self.blocks.append(frame)
            if self.silent_blocks:
                continue
            answer = self._answer(frame)
            await _send(writer, answer)
            if self.drop_after_call and answer == bytes([ACK]):
                writer.close()
                return False
        return True

    def _answer(self, frame: bytes) -> bytes:
        problem, header, records = check_block(frame)
        if problem is None and self.charset != "latin1" and any(b > 0x7F for b in frame):
            problem = "framing: an 8-bit character on a 7-bit line"
        if problem is not None:
            self.refused.append(problem)
            return f"{'3' if problem.startswith('content') else '1'}\x15".encode()
        number = records.get("1", b"").decode("ascii", "replace")
        if self.nak_blocks:
            self.nak_blocks -= 1
            self.refused.append("told to NAK")
            return f"{self.nak_reason}\x15".encode()
        if header != "1" or number in self.reject or not number.isdigit():
            self.refused.append(f"content: call to {number!r} refused")
            return b"3\x15"
        self.calls.append(ReceivedCall(number, self.display(records.get("2", b"")), records))
        if self.status is not None:
            self._status_due.append((number, self.status))
        return bytes([ACK])

    async def _polled(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Nothing to say (EOT), or the hub selected and one status block per call due."""
        self.polls += 1
        if not self._status_due:
            await _send(writer, bytes([EOT]))
            return
        await _send(writer, f"{self.address}\x05{self.control_station}\x05".encode())
        if await _read_answer(reader) != bytes([ACK]):
            return
        while self._status_due:
            number, status = self._status_due[0]
            body = b"2\x02" + b"1\x1f" + number.encode() + b"\x1e7\x1f" + status.encode() + b"\x03"
            check = xor(body)
            if self.corrupt_status:
                self.corrupt_status -= 1
                check ^= 0x01
            await _send(writer, bytes([SOH]) + body + bytes([check]))
            answer = await _read_answer(reader)
            self.status_answers.append(answer)
            if answer == bytes([ACK]):
                self._status_due.pop(0)  # a NAK, with or without its reason: send it again
        await _send(writer, bytes([EOT]))

    def display(self, text: bytes) -> str:
        if self.charset == "latin1":
            return text.decode("latin-1")
        shown = text.decode("ascii")
        if self.charset == "din66003":
            return "".join(GERMAN_7BIT.get(c, c) for c in shown)
        return shown


def xor(data: bytes) -> int:
    check = 0
    for byte in data:
        check ^= byte
    return check


def check_block(frame: bytes) -> tuple[str | None, str, dict[str, bytes]]:
    """(what is wrong or None, header, records) of one data block SOH … ETX BCC."""
    if frame[0] != SOH or frame[-2] != ETX:
        return "framing: not SOH … ETX BCC", "", {}
    body = frame[1:-1]
    if xor(body) != frame[-1]:
        return f"framing: BCC {frame[-1]:#04x}, computed {xor(body):#04x}", "", {}
    header, stx, text = body[:-1].partition(bytes([STX]))
    if not stx or not header.isdigit():
        return "content: no header before STX", "", {}
    if any(b < 0x20 and b not in (RS, US) for b in text):
        return "framing: a control character in the text", "", {}
    records: dict[str, bytes] = {}
    for record in text.split(bytes([RS])):
        ident, us, data = record.partition(bytes([US]))
        if not us or not ident.isdigit() or ident.decode() in records:
            return f"content: bad record {record!r}", "", {}
        records[ident.decode()] = data
    return None, header.decode(), records


async def _read_block(reader: asyncio.StreamReader) -> bytes | None:
    """The next block, SOH to BCC; None at EOT."""
    while (byte := (await reader.readexactly(1))[0]) != SOH:
        if byte == EOT:
            return None
    rest = await reader.readuntil(bytes([ETX]))
    return bytes([SOH]) + rest + await reader.readexactly(1)


async def _read_answer(reader: asyncio.StreamReader) -> bytes:
    """ACK, NAK, or a reason digit and NAK, as the bytes they are."""
    answer = await reader.readexactly(1)
    if answer.isdigit():
        answer += await reader.readexactly(1)
    return answer


async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


@contextlib.asynccontextmanager
async def tcp_receiver(receiver: EspaReceiver) -> AsyncIterator[str]:
    """Serves ``receiver`` on a free loopback port; yields the channel's tcp:// address."""
    server = await asyncio.start_server(receiver.serve_line, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"tcp://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()
    _raise_errors(receiver)


@contextlib.asynccontextmanager
async def pty_receiver(receiver: EspaReceiver) -> AsyncIterator[str]:
    """Serves ``receiver`` on the master end of a pty pair; yields the channel's serial://
    address (the slave end). The pty stands in for the RS-232 cable to the paging system."""
    master, slave = os.openpty()
    tty.setraw(slave)  # bytes as they are: no echo, no line editing, as on a serial line
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    read_transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(master, "rb", buffering=0)
    )
    write_transport, write_protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(os.dup(master), "wb", buffering=0)
    )
    writer = asyncio.StreamWriter(write_transport, write_protocol, reader, loop)
    line = asyncio.create_task(receiver.serve_line(reader, writer))
    try:
        # The receiver keeps the slave end open too: the line stays up between the
        # channel's calls, each of which opens and closes the port. A pty carries bytes,
        # not characters on a wire, and Linux refuses 7 data bits and parity on it: the
        # test line is 8N1 (ESPA's 7E1 is the default for a real port); the receiver
        # still refuses an 8-bit character unless its charset is latin1.
        yield f"serial://{os.ttyname(slave)}?baudrate=9600&bytesize=8&parity=N&stopbits=1"
    finally:
        line.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await line
        read_transport.close()
        write_transport.close()
        os.close(slave)
    _raise_errors(receiver)


def _raise_errors(receiver: EspaReceiver) -> None:
    if receiver.errors:
        raise AssertionError(f"the ESPA receiver failed: {receiver.errors[0]!r}")
