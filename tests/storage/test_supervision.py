"""The hub's supervision round: when a silent peer counts as lost (GOALS: noticed within 15 s)."""

from __future__ import annotations

import time

from dispatch.alarms import AlarmStore
from dispatch.database import Database
from dispatch.directory import Directory
from dispatch.hub import Hub
from shared.protocol import CloseCode

INTERVAL = 5.0  # the production heartbeat


class SilentPeer:
    """Stands in for a connected agent whose last frame came ``silent_s`` ago."""

    def __init__(self, silent_s: float) -> None:
        self.label = f"silent {silent_s} s"
        self.last_heard = time.monotonic() - silent_s
        self.closed_with: int | None = None
        self.sent: list[str] = []
        self.closed = False

    def send(self, text: str) -> None:
        self.sent.append(text)

    async def close(self, code: int, reason: str) -> None:
        self.closed_with, self.closed = code, True


async def test_a_peer_silent_for_two_and_a_half_intervals_is_closed(db: Database) -> None:
    hub = Hub(AlarmStore(db), Directory(db), heartbeat_interval=INTERVAL, redeliver_interval=2)
    lost, late, live = SilentPeer(2.6 * INTERVAL), SilentPeer(1.5 * INTERVAL), SilentPeer(0.1)
    hub._agents.update({"lost": {lost}, "late": {late}, "live": {live}})  # type: ignore[dict-item]

    await hub.supervise()

    # Rounds run every half interval, so a peer closed at 2.5 intervals of silence is
    # closed at most three intervals after its last frame: 15 s at the production 5 s.
    assert lost.closed_with == CloseCode.HEARTBEAT_TIMEOUT
    assert late.closed_with is None
    assert late.sent  # gone quiet: pinged, so a live agent answers before it counts as lost
    assert (live.closed_with, live.sent) == (None, [])
