"""The direct path's sockets (issue 16): a TCP listener for neighbours' alarms, and the sender.

Runs on the link's event loop. One connection carries one frame each way: the
alarm, then the receiver's acknowledgement (agent/peer_frame.py). Everything is
bounded: a frame by ``MAX_FRAME_BYTES`` (a longer line is refused unread), a
connection by ``CONNECTION_TIMEOUT``, connections at once by ``MAX_CONNECTIONS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.peer_frame import (
    MAX_FRAME_BYTES,
    FrameRefused,
    PeerAck,
    PeerAlarm,
    Refusal,
    Repeats,
    open_frame,
    seal,
)

log = logging.getLogger(__name__)

CONNECTION_TIMEOUT = 2.0
"""Seconds one connection may take, either side: a silent peer never holds a slot long."""

MAX_CONNECTIONS = 32
"""Connections served at once; more are closed at once (a neighbourhood is a few PCs)."""


@dataclass(frozen=True)
class SiteKey:
    """What a frame is checked against: this PC's site and its current key."""

    workstation_id: str
    site_id: int
    key: bytes


class PeerListener:
    """Takes neighbours' alarm frames on ``host:port`` and answers each with an ack."""

    def __init__(
        self,
        host: str | None,
        port: int,
        site_key: Callable[[], SiteKey | None],
        on_alarm: Callable[[PeerAlarm], None],
    ) -> None:
        self._host = host
        self._port = port
        self._site_key = site_key
        self._on_alarm = on_alarm
        self._repeats = Repeats()
        self._server: asyncio.Server | None = None
        self._open = 0

    async def start(self) -> None:
        """Listen; a port that cannot be bound is logged, the hub path works without it."""
        try:
            self._server = await asyncio.start_server(
                self._serve, self._host, self._port, limit=MAX_FRAME_BYTES
            )
        except OSError as error:
            log.warning("peer port %d not open: %s", self._port, error.strerror or error)
            return
        log.info("peer listener on %s port %d", self._host or "all interfaces", self._port)

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        source = peer[0] if isinstance(peer, tuple) else "?"
        if self._open >= MAX_CONNECTIONS:
            writer.close()
            return
        self._open += 1
        try:
            await asyncio.wait_for(self._exchange(reader, writer, source), CONNECTION_TIMEOUT)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            log.info("peer connection from %s ended without a frame", source)
        finally:
            self._open -= 1
            writer.close()

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, source: str
    ) -> None:
        try:
            line = await reader.readline()
        except ValueError:  # the line outgrew the limit: refused unread
            self._refused(source, Refusal.OVERSIZE)
            return
        site = self._site_key()
        if site is None:
            log.warning("peer frame from %s refused: no site key from a hub yet", source)
            return
        try:
            alarm = open_frame(line, site.key, site.site_id, time.time(), PeerAlarm)
        except FrameRefused as refused:
            self._refused(source, refused.reason)
            return
        if self._repeats.first(alarm.alarm_id, time.monotonic()):
            log.info("peer alarm %s from %s (%s)", alarm.alarm_id, alarm.sender, source)
            self._on_alarm(alarm)
        else:
            log.info("peer alarm %s again from %s: already shown", alarm.alarm_id, alarm.sender)
        ack = PeerAck(
            alarm_id=alarm.alarm_id,
            sender=site.workstation_id,
            site_id=site.site_id,
            sent_at=time.time(),
        )
        writer.write(seal(ack, site.key))
        await writer.drain()

    @staticmethod
    def _refused(source: str, reason: Refusal) -> None:
        # The reason only: the frame may be anyone's bytes and is never echoed.
        log.warning("peer frame from %s refused: %s", source, reason.value)


async def send_alarm(alarm: PeerAlarm, site: SiteKey, peers: Sequence[tuple[str, int]]) -> int:
    """Sends ``alarm`` to every (address, port) at once; returns how many acknowledged it."""
    frame = seal(alarm, site.key)
    results = await asyncio.gather(
        *(_send_one(frame, alarm, site, address, port) for address, port in peers)
    )
    return sum(results)


async def _send_one(frame: bytes, alarm: PeerAlarm, site: SiteKey, address: str, port: int) -> bool:
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(CONNECTION_TIMEOUT):
            reader, writer = await asyncio.open_connection(address, port, limit=MAX_FRAME_BYTES)
            writer.write(frame)
            await writer.drain()
            line = await reader.readline()
        ack = open_frame(line, site.key, site.site_id, time.time(), PeerAck)
    except (TimeoutError, OSError, ValueError) as error:  # FrameRefused is a ValueError
        log.warning("peer %s did not take alarm %s: %s", address, alarm.alarm_id, _why(error))
        return False
    finally:
        if writer is not None:
            writer.close()
    return ack.alarm_id == alarm.alarm_id


def _why(error: Exception) -> str:
    if isinstance(error, FrameRefused):
        return f"bad ack ({error.reason.value})"
    return type(error).__name__
