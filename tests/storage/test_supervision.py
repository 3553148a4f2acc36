"""The hub's supervision round: when a silent console counts as lost (noticed within 15 s).

Agents are supervised by WebSocket pings below the application; that is tested
against the real hub in tests/integration/test_handshake.py.
"""

from __future__ import annotations

import time

from dispatch.alarms.store import AlarmStore
from dispatch.directory.authentication import Authenticator
from dispatch.live.hub import Hub
from dispatch.store.database import Database
from shared.protocol import CloseCode

INTERVAL = 5.0  # the production heartbeat


class SilentPeer:
    """Stands in for a connected peer whose last frame came ``silent_s`` ago."""

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


async def test_a_console_silent_for_two_and_a_half_intervals_is_closed(db: Database) -> None:
    hub = Hub(AlarmStore(db), Authenticator(db), heartbeat_interval=INTERVAL, redeliver_interval=2)
    lost, late, live = SilentPeer(2.6 * INTERVAL), SilentPeer(1.5 * INTERVAL), SilentPeer(0.1)
    hub._consoles.update({lost, late, live})  # type: ignore[arg-type]
    hub._recheck_consoles = _sessions_valid  # type: ignore[method-assign]

    await hub.supervise()

    # Rounds run every half interval, so a peer closed at 2.5 intervals of silence is
    # closed at most three intervals after its last frame: 15 s at the production 5 s.
    assert lost.closed_with == CloseCode.HEARTBEAT_TIMEOUT
    assert late.closed_with is None
    assert late.sent  # gone quiet: pinged, so a live console answers before it counts as lost
    assert (live.closed_with, live.sent) == (None, [])


async def test_agents_are_left_to_the_websocket_pings(db: Database) -> None:
    """Their frames do not pass the application, so silence there means nothing."""
    hub = Hub(AlarmStore(db), Authenticator(db), heartbeat_interval=INTERVAL, redeliver_interval=2)
    idle = SilentPeer(10 * INTERVAL)
    hub._agents["idle"] = {idle}  # type: ignore[arg-type]

    await hub.supervise()

    assert (idle.closed_with, idle.sent) == (None, [])


async def _sessions_valid(now: float) -> None:
    """The session re-check reads operators from the store; these stand-ins have none."""
