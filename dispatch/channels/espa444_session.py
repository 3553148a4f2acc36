"""The control station's side of one ESPA 4.4.4 call over a byte stream (TCP or RS-232).

The hub is the control station (address '1' by default) and the paging system a
station on the line ('2'). One call is, in ISO 1745 basic mode:

    hub                                   paging system
    EOT                                   (the line is idle, whatever came before)
    '1' ENQ '2' ENQ   select  ───────▶
                      ◀─────────────────  ACK (ready) · NAK · EOT (not now)
    SOH '1' STX … ETX BCC     ────────▶
                      ◀─────────────────  ACK · [reason] NAK: the block again, up to RETRIES
    EOT               the line is free

With a status timeout the hub then polls ('2' ENQ) until the paging system, selecting
the hub ('2' ENQ '1' ENQ), sends status information (header '2') with the call's
status (record 7), or answers EOT while it has none.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from dispatch.channels.base import Failed, Outcome, Sent
from dispatch.channels.espa444_frames import (
    ACK,
    CALL_STATUS,
    ENQ,
    EOT,
    ETX,
    NAK,
    SOH,
    FrameError,
    Header,
    NakReason,
    RecordId,
    decode_block,
)

DELIVERED_STATUSES = frozenset({"2", "3", "6", "7", "71", "72"})
"""Call statuses that mean the paging system has the call: queued, paged, confirmed, speech."""
REJECTED_STATUSES = frozenset({"4"})
"""Absent: the paging system knows no reachable handset by that number (logged off, not
registered); sending the call again cannot help until someone changes that."""
MAX_BLOCK = 1024  # bytes of a data block the hub reads at most; ESPA's are a few hundred


@dataclass(frozen=True, slots=True)
class LineConfig:
    """How the hub conducts the line."""

    own_address: str = "1"  # the control station: ESPA gives it '1'
    paging_address: str = "2"  # the paging system's station address
    answer_timeout: float = 2.0  # seconds to wait for each ACK/NAK
    retries: int = 3  # sending a selection or a block again after NAK or silence
    status_timeout: float = 0.0  # seconds to poll for the call status; 0: the ACK suffices
    poll_interval: float = 0.25  # seconds between polls while the paging system has nothing


@dataclass(frozen=True, slots=True)
class Ack:
    pass


@dataclass(frozen=True, slots=True)
class Nak:
    reason: str | None  # the digit before NAK, if any (NakReason)


@dataclass(frozen=True, slots=True)
class Eot:
    pass


@dataclass(frozen=True, slots=True)
class Enq:
    address: str  # the station polled or selected


Token = Ack | Nak | Eot | Enq


async def read_token(reader: asyncio.StreamReader) -> Token:
    """The next control sequence from the line; bytes that make none are line noise and skipped.
    IncompleteReadError when the line closes."""
    while True:
        byte = (await reader.readexactly(1))[0]
        if byte == ACK:
            return Ack()
        if byte == NAK:
            return Nak(None)
        if byte == EOT:
            return Eot()
        if 0x30 <= byte <= 0x39:  # an address or a NAK reason comes before its control
            after = (await reader.readexactly(1))[0]
            if after == NAK:
                return Nak(chr(byte))
            if after == ENQ:
                return Enq(chr(byte))


async def read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """The next data block, SOH to BCC, or None at the EOT that ends the sender's turn.
    Bytes before SOH are line noise; FrameError for a block longer than ESPA's."""
    while (byte := (await reader.readexactly(1))[0]) != SOH:
        if byte == EOT:
            return None
    try:
        rest = await reader.readuntil(bytes([ETX]))
    except asyncio.LimitOverrunError as error:
        raise FrameError("a data block longer than the line allows") from error
    if len(rest) > MAX_BLOCK:
        raise FrameError(f"a data block over {MAX_BLOCK} bytes")
    return bytes([SOH]) + rest + await reader.readexactly(1)


class ControlStation:
    """Conducts calls on one open line; the caller opens and closes it."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, config: LineConfig
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._config = config

    async def call(self, frame: bytes, number: str) -> Outcome:
        """Sends the call block ``frame`` for ``number``; Sent once the paging system has it.
        IncompleteReadError or OSError when the line breaks."""
        config = self._config
        select = f"{config.own_address}\x05{config.paging_address}\x05".encode("ascii")
        refused = await self._exchange(select, "selection", fresh=True)
        if refused is None:
            refused = await self._exchange(frame, "call", fresh=False)
        if refused is not None:
            await self._send(bytes([EOT]))  # the line goes back to idle
            return refused
        # From the ACK on the paging system has the call: a line that breaks now must not
        # make it a failure, or the delivery queue would page the handset a second time.
        try:
            await self._send(bytes([EOT]))
            if config.status_timeout > 0:
                return await self._await_status(number)
        except (asyncio.IncompleteReadError, OSError):
            return Sent(reference=f"ESPA {number}: ACK, then the line was closed")
        return Sent(reference=f"ESPA {number}: ACK")

    async def _exchange(self, data: bytes, what: str, *, fresh: bool) -> Failed | None:
        """Sends ``data`` until the paging system ACKs it; the Failed after the last try."""
        config = self._config
        last = ""
        for _attempt in range(1 + config.retries):
            # A selection starts from an idle line; a block is simply sent again (ISO 1745).
            await self._send(bytes([EOT]) + data if fresh else data)
            try:
                answer = await asyncio.wait_for(read_token(self._reader), config.answer_timeout)
            except TimeoutError:
                last = f"no answer to the {what} within {config.answer_timeout:g} s"
                continue
            match answer:
                case Ack():
                    return None
                case Nak(NakReason.INVALID_MESSAGE):
                    return Failed(
                        f"ESPA: the paging system refused the {what} "
                        "(NAK 3: type or content not recognised)",
                        retryable=False,
                    )
                case Nak(reason):
                    last = f"the {what} was answered NAK" + (f" {reason}" if reason else "")
                case Eot():
                    last = f"the paging system declined the {what} (EOT)"
                case Enq(address):
                    last = f"the paging system answered the {what} with {address} ENQ"
        tries = 1 + config.retries
        return Failed(f"ESPA: {last} ({tries} {'try' if tries == 1 else 'tries'})")

    async def _await_status(self, number: str) -> Outcome:
        """Polls the paging system until it reports this call's status or the time is up."""
        config = self._config
        loop = asyncio.get_running_loop()
        deadline = loop.time() + config.status_timeout
        while (left := deadline - loop.time()) > 0:
            await self._send(f"{config.paging_address}\x05".encode("ascii"))
            try:
                async with asyncio.timeout(min(left, config.answer_timeout)):
                    status = await self._take_status(number)
            except (TimeoutError, FrameError):
                continue  # no status in this round; the deadline bounds the rounds
            if status is not None:
                return status_outcome(number, status)
            await asyncio.sleep(min(config.poll_interval, max(deadline - loop.time(), 0)))
        # The paging system took the call (ACK) but said nothing more in time.
        return Sent(reference=f"ESPA {number}: ACK, no call status")

    async def _take_status(self, number: str) -> str | None:
        """One poll's answer: the call status for ``number`` if the paging system sent it."""
        config = self._config
        answer = await read_token(self._reader)
        if answer != Enq(config.paging_address):
            return None  # EOT: nothing to send now
        if await read_token(self._reader) != Enq(config.own_address):
            return None
        await self._send(bytes([ACK]))
        found: str | None = None
        while (frame := await read_frame(self._reader)) is not None:
            try:
                block = decode_block(frame)
            except FrameError as error:
                await self._send(f"{error.nak}\x15".encode("ascii"))  # NAK: send it again
                continue
            await self._send(bytes([ACK]))
            status = block.get(RecordId.CALL_STATUS)
            if (
                block.header == Header.STATUS_INFORMATION
                and status is not None
                and block.get(RecordId.CALL_ADDRESS) == number.encode("ascii")
            ):
                found = status.decode("ascii", "replace")
        return found

    async def _send(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()


def status_outcome(number: str, status: str) -> Outcome:
    """What the paging system's call status says about the call to ``number``."""
    meaning = CALL_STATUS.get(status, "unknown")
    said = f"call status {status} ({meaning})"
    if status in DELIVERED_STATUSES:
        return Sent(reference=f"ESPA {number}: {said}")
    return Failed(f"ESPA: handset {number}: {said}", retryable=status not in REJECTED_STATUSES)
