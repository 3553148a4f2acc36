"""The ESPA 4.4.4 channel: a call with a short text to a DECT handset or pager, over TCP or RS-232.

One call at a time: the line is half duplex and the hub its control station, so
calls queue for it (an asyncio lock) and each opens the line, makes its call and
closes it again, which also recovers from a line a paging system dropped.
"""

from __future__ import annotations

import asyncio
import os
from contextlib import suppress
from dataclasses import dataclass, field

import structlog
from serial_asyncio_fast import open_serial_connection

from dispatch.channels.base import (
    Channel,
    ChannelKind,
    Failed,
    MessageKind,
    OutboundMessage,
    Outcome,
    Sent,
    Storeless,
)
from dispatch.channels.espa444_address import Link, TcpLink
from dispatch.channels.espa444_frames import (
    MAX_CALL_ADDRESS,
    Charset,
    Priority,
    call_block,
    encode_block,
    is_call_address,
    pager_text,
)
from dispatch.channels.espa444_session import ControlStation, LineConfig
from dispatch.settings import Settings
from dispatch.store.database import Database

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class EspaConfig:
    """Everything the channel needs, read from the settings (docs/configuration.md)."""

    link: Link
    line: LineConfig = field(default_factory=LineConfig)
    charset: Charset = "ascii"
    max_text: int = 128
    beep: str | None = None  # record 3; None leaves the tune to the paging system
    transmissions: int = 1  # record 5
    connect_timeout: float = 5.0


def build_channel(settings: Settings, db: Database) -> Channel | None:
    """The ESPA channel the settings describe; None when no ESPA address is set."""
    del db  # the channel keeps nothing: the delivery queue records every outcome
    return build_transmitter(settings)


def build_transmitter(settings: Settings) -> Espa444Channel | None:
    """The sender process's channel: the one holding the line's lock (one call at a time)."""
    if settings.espa_link is None:
        return None
    return Espa444Channel(
        EspaConfig(
            link=settings.espa_link,
            line=LineConfig(
                own_address=settings.espa_own_address,
                paging_address=settings.espa_paging_address,
                answer_timeout=settings.espa_answer_timeout,
                retries=settings.espa_retries,
                status_timeout=settings.espa_status_timeout,
            ),
            charset=settings.espa_charset,
            max_text=settings.espa_max_text,
            beep=settings.espa_beep_coding,
            transmissions=settings.espa_transmissions,
            connect_timeout=settings.espa_connect_timeout,
        )
    )


def priority_for(level: int, kind: MessageKind = MessageKind.ALARM) -> Priority:
    """Threat and danger (levels 2 and 3) interrupt the handset as an alarm; a call for
    support (level 1) is urgent, not an alarm, and so is an all-clear: it must not cut
    into the guard's call, but it must not wait behind routine pages either."""
    if kind is not MessageKind.ALARM:
        return Priority.HIGH
    return Priority.ALARM if level >= 2 else Priority.HIGH


class Espa444Channel(Storeless):
    """Calls a handset number with the message's subject as its display text."""

    def __init__(self, config: EspaConfig) -> None:
        self._config = config
        self._line = asyncio.Lock()

    @property
    def kind(self) -> ChannelKind:
        return ChannelKind.ESPA

    async def send(self, message: OutboundMessage, address: str) -> Outcome:
        config = self._config
        number = address.strip()
        if not is_call_address(number):
            return Failed(
                f"ESPA: {number!r} is no handset number (1 to {MAX_CALL_ADDRESS} digits)",
                retryable=False,
            )
        # The subject is the short text the content rules made for this audience: level and
        # room, or for level-3 staff the warning without a room. Nothing else is added.
        text = pager_text(message.subject, config.charset, config.max_text)
        block = call_block(
            number,
            text,
            priority_for(message.level, message.kind),
            beep=config.beep,
            transmissions=config.transmissions,
        )
        async with self._line:
            outcome = await self._call(encode_block(block), number)
        match outcome:
            case Sent(reference):
                log.info("espa_call_sent", alarm=message.alarm_id, handset=number, said=reference)
            case Failed(reason, retryable):
                log.warning(
                    "espa_call_failed",
                    alarm=message.alarm_id,
                    handset=number,
                    reason=reason,
                    retryable=retryable,
                )
        return outcome

    async def _call(self, frame: bytes, number: str) -> Outcome:
        config = self._config
        try:
            async with asyncio.timeout(config.connect_timeout):
                reader, writer = await open_link(config.link)
        except TimeoutError:
            return Failed(f"ESPA {config.link}: no connection within {config.connect_timeout:g} s")
        except OSError as error:  # refused, unreachable, no such serial device
            return Failed(f"ESPA {config.link}: {_why(error)}")
        try:
            return await ControlStation(reader, writer, config.line).call(frame, number)
        except (asyncio.IncompleteReadError, OSError):
            return Failed(f"ESPA {config.link}: the line was closed during the call")
        finally:
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()


def _why(error: OSError) -> str:
    """The system's words for a failed open ("Connection refused"), without the noise
    asyncio and pyserial wrap them in; a name lookup's own words (its errno is negative)."""
    if error.errno is not None and error.errno > 0:
        return os.strerror(error.errno)
    return error.strerror or str(error)


async def open_link(link: Link) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Streams to the paging system: a TCP connection or the serial port."""
    if isinstance(link, TcpLink):
        return await asyncio.open_connection(link.host, link.port)
    return await open_serial_connection(
        url=link.device,
        baudrate=link.baudrate,
        bytesize=link.bytesize,
        parity=link.parity,
        stopbits=link.stopbits,
    )
