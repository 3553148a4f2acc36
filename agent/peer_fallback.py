"""The second path (issue 16): tell the neighbours' agents directly when no hub stored an alarm.

Qt-free, on the link's event loop. It keeps what the hub handed out while it
was reachable (the peer directory with the site key, this PC's room) in memory
and on disk (agent/peer_state.py), listens for neighbours' frames
(agent/peer_net.py) and, for an alarm no hub has stored in time, sends it to
every peer of the directory. The alarm stays in the outbox: the hub stores it
once when it is back, and recipients already showing it deduplicate by its id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from agent import peer_state
from agent.peer_frame import PeerAlarm
from agent.peer_net import PeerListener, SiteKey, send_alarm
from agent.peer_state import PeerState
from shared.domain import AlarmLevel, Instruction
from shared.protocol import AlarmNotify, PeerDirectory, RaiseAlarm, RoomRef

log = logging.getLogger(__name__)


class PeerFallback:
    def __init__(
        self,
        *,
        workstation_id: str,
        raiser: str,
        data_dir: Path,
        port: int,
        host: str | None,
    ) -> None:
        self._workstation_id = workstation_id
        self._raiser = raiser
        self._data_dir = data_dir
        self._port = port
        self._host = host
        self._state: PeerState | None = None
        self._room: RoomRef | None = None
        self._listener: PeerListener | None = None

    async def start(self, on_alarm: Callable[[AlarmNotify], None]) -> None:
        """Read what an earlier session kept, and listen for neighbours."""
        saved = await asyncio.to_thread(peer_state.load, self._data_dir)
        if saved is not None and self._state is None:
            self._state, self._room = saved, saved.room
            log.info("peer directory from disk: %d peers", len(saved.directory.peers))
        self._listener = PeerListener(
            self._host, self._port, self.site_key, lambda alarm: on_alarm(notify_of(alarm))
        )
        await self._listener.start()

    async def stop(self) -> None:
        if self._listener is not None:
            await self._listener.stop()

    @property
    def port(self) -> int | None:
        """The port neighbours reach this PC on; None if it could not be opened."""
        listener = self._listener
        return self._port if listener is not None and listener.listening else None

    def site_key(self) -> SiteKey | None:
        state = self._state
        if state is None:
            return None
        key = bytes.fromhex(state.directory.site_key.get_secret_value())
        return SiteKey(self._workstation_id, state.directory.site_id, key)

    async def directory_received(self, directory: PeerDirectory) -> None:
        log.info(
            "peer directory: %d peers, key epoch %d", len(directory.peers), directory.key_epoch
        )
        await self._keep(PeerState(directory=directory, room=self._room))

    async def room_known(self, room: RoomRef | None) -> None:
        self._room = room
        if self._state is not None and self._state.room != room:
            await self._keep(PeerState(directory=self._state.directory, room=room))

    async def _keep(self, state: PeerState) -> None:
        self._state = state
        try:
            await asyncio.to_thread(peer_state.save, self._data_dir, state)
        except OSError as error:  # kept in memory; only a restart during an outage loses it
            log.warning("peer directory not saved: %s", error.strerror or error)

    async def alarm_unstored(self, alarm: RaiseAlarm) -> tuple[int, int] | None:
        """Send ``alarm`` to every peer; (acknowledged, asked), or None without a directory."""
        state, site = self._state, self.site_key()
        if state is None or site is None:
            log.warning(
                "alarm %s: no peer directory from a hub; nobody told directly", alarm.alarm_id
            )
            return None
        addresses = [(peer.address, peer.port) for peer in state.directory.peers]
        frame = PeerAlarm(
            alarm_id=alarm.alarm_id,
            sender=self._workstation_id,
            site_id=site.site_id,
            sent_at=time.time(),
            level=alarm.level,
            room=self._room,
            raiser=self._raiser,
            raised_at=alarm.raised_at,
        )
        acked = await send_alarm(frame, site, addresses) if addresses else 0
        log.info(
            "alarm %s sent to peers directly: %d of %d acknowledged",
            alarm.alarm_id,
            acked,
            len(addresses),
        )
        return acked, len(addresses)


def notify_of(alarm: PeerAlarm) -> AlarmNotify:
    """The popup a neighbour's frame makes, as the hub would have routed it (staff).

    Level 3 warns without the room, as the hub does for staff; the direct path does
    not know which peer is security, so security learns the room from the hub later.
    """
    danger = alarm.level is AlarmLevel.DANGER
    return AlarmNotify(
        alarm_id=alarm.alarm_id,
        level=alarm.level,
        instruction=Instruction.STAY_AWAY if danger else Instruction.COME_HELP,
        room=None if danger else alarm.room,
        raiser=None if danger else alarm.raiser,
        raised_at=alarm.raised_at,
    )
