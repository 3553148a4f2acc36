"""The shared keepalive round: pings spread over the interval, and only silent connections closed.

The connections here stand in for ``dispatch.connection.HubWebSocketProtocol``;
the round with real sockets (an agent that answers, one that freezes) is covered
in tests/integration/test_handshake.py. The loop and its clock are real.
"""

from __future__ import annotations

import asyncio

from dispatch.keepalive import SLOTS, KeepaliveRound
from tests.support.waiting import until

INTERVAL = 0.4
TIMEOUT = 1.5 * INTERVAL


class Connection:
    def __init__(self, loop: asyncio.AbstractEventLoop, *, answers: bool) -> None:
        self.loop = loop
        self.answers = answers
        self.last_rx = 0.0
        self.ping_sent_at = 0.0
        self.read_paused = False
        self.pings: list[float] = []
        self.timed_out_at: float | None = None

    def send_ping_frame(self) -> None:
        self.pings.append(self.loop.time())
        if self.answers:  # the pong arrives a moment later, as over loopback
            self.loop.call_later(0.005, self._pong)

    def _pong(self) -> None:
        self.last_rx = self.loop.time()

    def keepalive_timeout(self) -> None:
        self.timed_out_at = self.loop.time()


async def test_each_connection_is_pinged_once_per_interval_and_kept() -> None:
    loop = asyncio.get_running_loop()
    keepalive = KeepaliveRound(loop, INTERVAL, TIMEOUT)
    connections = [Connection(loop, answers=True) for _ in range(60)]
    started = loop.time()
    for c in connections:
        keepalive.add(c)
    await asyncio.sleep(6 * INTERVAL)
    for c in connections:
        assert c.timed_out_at is None
        assert 5 <= len(c.pings) <= 7, len(c.pings)
        gaps = [b - a for a, b in zip(c.pings, c.pings[1:], strict=False)]
        assert all(0.7 * INTERVAL <= gap <= 1.3 * INTERVAL for gap in gaps), gaps
        assert 0.7 * INTERVAL <= c.pings[0] - started <= 1.3 * INTERVAL
    for c in connections:
        keepalive.discard(c)
    assert len(keepalive) == 0


async def test_pings_are_spread_over_the_interval_not_sent_in_one_burst() -> None:
    loop = asyncio.get_running_loop()
    keepalive = KeepaliveRound(loop, INTERVAL, TIMEOUT)
    connections = [Connection(loop, answers=True) for _ in range(10 * SLOTS)]
    for c in connections:
        keepalive.add(c)
    await asyncio.sleep(4 * INTERVAL)
    pings = sorted(t for c in connections for t in c.pings[1:])  # past the joint start
    window = INTERVAL / 10
    busiest = max(sum(1 for t in pings if start <= t < start + window) for start in pings)
    # Evenly spread, a tenth of the interval holds a tenth of the connections' pings.
    assert busiest <= 0.25 * len(connections), busiest


async def test_a_silent_connection_is_closed_between_timeout_and_timeout_plus_a_visit() -> None:
    loop = asyncio.get_running_loop()
    keepalive = KeepaliveRound(loop, INTERVAL, TIMEOUT)
    answering = Connection(loop, answers=True)
    silent = Connection(loop, answers=False)
    keepalive.add(answering)
    keepalive.add(silent)
    timed_out_at = await until(lambda: silent.timed_out_at, timeout=INTERVAL + TIMEOUT + 2)
    assert silent.pings, "closed without a ping"
    waited = timed_out_at - silent.pings[-1]
    assert TIMEOUT * 0.9 <= waited <= TIMEOUT + INTERVAL / 2, waited
    assert len(silent.pings) == 1  # no second ping while the first is unanswered
    assert answering.timed_out_at is None
    assert len(keepalive) == 1  # the closed one left the round
    keepalive.discard(answering)


async def test_a_connection_that_falls_silent_is_closed_within_interval_plus_timeout() -> None:
    loop = asyncio.get_running_loop()
    keepalive = KeepaliveRound(loop, INTERVAL, TIMEOUT)
    c = Connection(loop, answers=True)
    keepalive.add(c)
    await until(lambda: c.pings and c.last_rx >= c.pings[-1], timeout=3 * INTERVAL)  # answered
    c.answers = False
    last_sign_of_life = c.last_rx
    timed_out_at = await until(lambda: c.timed_out_at, timeout=INTERVAL + TIMEOUT + 2)
    assert timed_out_at - last_sign_of_life <= INTERVAL * 1.3 + TIMEOUT + INTERVAL / 2


async def test_the_round_stops_its_timer_when_the_last_connection_leaves() -> None:
    loop = asyncio.get_running_loop()
    keepalive = KeepaliveRound(loop, INTERVAL, TIMEOUT)
    c = Connection(loop, answers=True)
    keepalive.add(c)
    keepalive.discard(c)
    await asyncio.sleep(2 * INTERVAL)
    assert c.pings == []
    keepalive.add(c)  # and starts again with the next one
    await until(lambda: bool(c.pings), timeout=3 * INTERVAL)
    keepalive.discard(c)


async def test_a_connection_the_hub_has_not_read_is_not_judged_until_it_reads_again() -> None:
    """The application is still working through a burst from this peer, so its answer
    may wait unread in the socket: closing then would drop the alarms behind it."""
    loop = asyncio.get_running_loop()
    keepalive = KeepaliveRound(loop, INTERVAL, TIMEOUT)
    c = Connection(loop, answers=False)
    c.read_paused = True
    keepalive.add(c)
    await asyncio.sleep(INTERVAL + 2 * TIMEOUT)
    assert c.timed_out_at is None
    assert len(c.pings) == 1
    c.read_paused = False  # caught up, and still nothing from the peer
    resumed = loop.time()
    timed_out_at = await until(lambda: c.timed_out_at, timeout=INTERVAL + 2)
    assert timed_out_at - resumed <= INTERVAL / 2 + 0.1
