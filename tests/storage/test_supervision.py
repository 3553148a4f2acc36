"""The hub's supervision round: when a silent console counts as lost (noticed within 15 s).

Agents are supervised by WebSocket pings below the application; that is tested
against the real hub in tests/integration/test_handshake.py.
"""

from __future__ import annotations

import asyncio
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


async def test_a_stall_of_the_hubs_own_loop_is_not_held_against_a_pinging_console(
    db: Database,
) -> None:
    """The hub's loop stands still for three intervals (as under SIGSTOP): a console's
    pings wait unread, and the first round afterwards runs before they are read. It must
    not close the console then (issue 16); one that stays silent after the resume is
    closed 2.5 intervals after it."""
    interval = 0.4
    hub = Hub(AlarmStore(db), Authenticator(db), heartbeat_interval=interval, redeliver_interval=2)
    hub._recheck_consoles = _sessions_valid  # type: ignore[method-assign]
    pinging, dead = SilentPeer(0.0), SilentPeer(0.0)
    hub._consoles.update({pinging, dead})  # type: ignore[arg-type]
    rounds = asyncio.Event()

    async def supervise() -> None:
        await hub.supervise()
        rounds.set()

    supervision = asyncio.create_task(hub._every(interval / 2, supervise))
    try:
        await asyncio.wait_for(rounds.wait(), 5)  # supervision runs, then the loop stalls
        rounds.clear()
        time.sleep(3 * interval)  # noqa: ASYNC251 - the stall under test: the loop stands still
        await asyncio.wait_for(rounds.wait(), 5)  # the first round after the stall
        resumed = time.monotonic()
        assert (pinging.closed_with, dead.closed_with) == (None, None)

        async def pings() -> None:  # read now: the pings it sent meanwhile, then every interval
            while True:
                pinging.last_heard = time.monotonic()
                await asyncio.sleep(interval)

        reader = asyncio.create_task(pings())
        try:
            async with asyncio.timeout(10):
                while not dead.closed:
                    rounds.clear()
                    await rounds.wait()
        finally:
            reader.cancel()
        closed_after = time.monotonic() - resumed
        assert dead.closed_with == CloseCode.HEARTBEAT_TIMEOUT
        assert 2.5 * interval <= closed_after, closed_after
        assert pinging.closed_with is None
    finally:
        supervision.cancel()


async def _sessions_valid(now: float) -> None:
    """The session re-check reads operators from the store; these stand-ins have none."""
