"""The shared keepalive round: pings spread over the interval, and only silent connections closed.

The connections here stand in for ``dispatch.net.connection.HubWebSocketProtocol``;
the round with real sockets (an agent that answers, one that freezes) is covered
in tests/integration/test_handshake.py. Time is virtual (tests/support/virtual_clock.py):
the test moves it, so every "within" below holds exactly, however loaded the machine.
"""

from __future__ import annotations

from itertools import pairwise

from dispatch.net.keepalive import SLOTS, KeepaliveRound
from tests.support.virtual_clock import VirtualClock

INTERVAL = 0.4
TIMEOUT = 1.5 * INTERVAL
TICK = INTERVAL / 2 / SLOTS
"""The round visits one slot per tick, so each connection every half interval."""


class Connection:
    def __init__(self, clock: VirtualClock, *, answers: bool) -> None:
        self.clock = clock
        self.answers = answers
        self.last_rx = 0.0
        self.ping_sent_at = 0.0
        self.read_paused = False
        self.pings: list[float] = []
        self.timed_out_at: float | None = None

    def send_ping_frame(self) -> None:
        self.pings.append(self.clock.time())
        if self.answers:  # the pong arrives a moment later, as over loopback
            self.clock.call_later(0.005, self._pong)

    def _pong(self) -> None:
        self.last_rx = self.clock.time()

    def keepalive_timeout(self) -> None:
        self.timed_out_at = self.clock.time()


def assert_once_per_interval(pings: list[float]) -> None:
    gaps = [b - a for a, b in pairwise(pings)]
    assert all(0.7 * INTERVAL <= gap <= 1.3 * INTERVAL for gap in gaps), gaps


def test_each_connection_is_pinged_once_per_interval_and_kept() -> None:
    clock = VirtualClock()
    keepalive = KeepaliveRound(clock, INTERVAL, TIMEOUT)
    connections = [Connection(clock, answers=True) for _ in range(60)]
    started = clock.time()
    for c in connections:
        keepalive.add(c)
    clock.advance(6 * INTERVAL)
    for c in connections:
        assert c.timed_out_at is None
        assert 5 <= len(c.pings) <= 7, len(c.pings)
        assert_once_per_interval(c.pings)
        assert 0.7 * INTERVAL <= c.pings[0] - started <= 1.3 * INTERVAL
    for c in connections:
        keepalive.discard(c)
    assert len(keepalive) == 0


def test_pings_are_spread_over_the_interval_not_sent_in_one_burst() -> None:
    clock = VirtualClock()
    keepalive = KeepaliveRound(clock, INTERVAL, TIMEOUT)
    connections = [Connection(clock, answers=True) for _ in range(10 * SLOTS)]
    for c in connections:
        keepalive.add(c)
    clock.advance(4 * INTERVAL)
    pings = sorted(t for c in connections for t in c.pings[1:])  # past the joint start
    window = INTERVAL / 10
    busiest = max(sum(1 for t in pings if start <= t < start + window) for start in pings)
    # Evenly spread, a tenth of the interval holds a tenth of the connections' pings.
    assert busiest <= 0.25 * len(connections), busiest


def test_a_silent_connection_is_closed_between_timeout_and_timeout_plus_a_visit() -> None:
    clock = VirtualClock()
    keepalive = KeepaliveRound(clock, INTERVAL, TIMEOUT)
    answering = Connection(clock, answers=True)
    silent = Connection(clock, answers=False)
    keepalive.add(answering)
    keepalive.add(silent)
    clock.advance(INTERVAL + TIMEOUT + INTERVAL)
    assert silent.timed_out_at is not None
    assert silent.pings, "closed without a ping"
    waited = silent.timed_out_at - silent.pings[-1]
    assert TIMEOUT * 0.9 <= waited <= TIMEOUT + INTERVAL / 2, waited
    assert len(silent.pings) == 1  # no second ping while the first is unanswered
    assert answering.timed_out_at is None
    assert len(keepalive) == 1  # the closed one left the round
    keepalive.discard(answering)


def test_a_connection_that_falls_silent_is_closed_within_interval_plus_timeout() -> None:
    clock = VirtualClock()
    keepalive = KeepaliveRound(clock, INTERVAL, TIMEOUT)
    c = Connection(clock, answers=True)
    keepalive.add(c)
    clock.advance(1.3 * INTERVAL)
    assert c.pings, "no ping within 1.3 intervals"
    assert c.last_rx >= c.pings[-1]  # answered
    c.answers = False
    last_sign_of_life = c.last_rx
    clock.advance(INTERVAL + TIMEOUT + INTERVAL)
    assert c.timed_out_at is not None
    assert c.timed_out_at - last_sign_of_life <= INTERVAL * 1.3 + TIMEOUT + INTERVAL / 2


def test_the_round_stops_its_timer_when_the_last_connection_leaves() -> None:
    clock = VirtualClock()
    keepalive = KeepaliveRound(clock, INTERVAL, TIMEOUT)
    c = Connection(clock, answers=True)
    keepalive.add(c)
    assert clock.pending == 1
    keepalive.discard(c)
    assert clock.pending == 0
    clock.advance(2 * INTERVAL)
    assert c.pings == []
    keepalive.add(c)  # and starts again with the next one
    clock.advance(1.3 * INTERVAL)
    assert c.pings
    keepalive.discard(c)
    assert clock.pending == 0


def test_the_round_stops_its_timer_when_the_last_connection_times_out() -> None:
    clock = VirtualClock()
    keepalive = KeepaliveRound(clock, INTERVAL, TIMEOUT)
    silent = Connection(clock, answers=False)
    keepalive.add(silent)
    clock.advance(INTERVAL + TIMEOUT + INTERVAL)
    assert silent.timed_out_at is not None
    assert len(keepalive) == 0
    assert clock.pending == 0


def test_a_connection_the_hub_has_not_read_is_not_judged_until_it_reads_again() -> None:
    """The application is still working through a burst from this peer, so its answer
    may wait unread in the socket: closing then would drop the alarms behind it."""
    clock = VirtualClock()
    keepalive = KeepaliveRound(clock, INTERVAL, TIMEOUT)
    c = Connection(clock, answers=False)
    c.read_paused = True
    keepalive.add(c)
    clock.advance(INTERVAL + 2 * TIMEOUT)
    assert c.timed_out_at is None
    assert len(c.pings) == 1
    c.read_paused = False  # caught up, and still nothing from the peer
    resumed = clock.time()
    clock.advance(INTERVAL + 2)
    assert c.timed_out_at is not None
    # judged at its next visit: within the half interval between two
    assert c.timed_out_at - resumed <= INTERVAL / 2 + 1e-9


def test_after_a_stalled_loop_the_round_starts_afresh_instead_of_catching_up() -> None:
    """A long GC pause holds the loop for five intervals. Catching up on the visits
    it missed would ping every connection at once; the round instead goes on from
    where it stands, and no connection that answers is closed for the pause."""
    clock = VirtualClock()
    keepalive = KeepaliveRound(clock, INTERVAL, TIMEOUT)
    per_slot = 4
    connections = [Connection(clock, answers=True) for _ in range(per_slot * SLOTS)]
    for c in connections:
        keepalive.add(c)
    clock.advance(3 * INTERVAL)

    def some_ping_unanswered() -> bool:
        return any(c.last_rx < c.ping_sent_at for c in connections)

    for _ in range(4 * SLOTS):  # stall while pings are on the way: the pongs come late
        if some_ping_unanswered():
            break
        clock.advance(TICK / 2)
    assert some_ping_unanswered()
    clock.stall(5 * INTERVAL)
    resumed = clock.time()
    clock.advance(0)  # the loop runs again: what came due meanwhile runs now
    at_once = sum(1 for c in connections for t in c.pings if t == resumed)
    assert 0 < at_once <= 2 * per_slot, at_once  # a slot or two, not the whole round
    clock.advance(INTERVAL / 2)
    for c in connections:  # one pass over the slots: every connection pinged once
        assert len([t for t in c.pings if t >= resumed]) == 1
    clock.advance(4 * INTERVAL)
    for c in connections:
        assert c.timed_out_at is None
        assert_once_per_interval([t for t in c.pings if t >= resumed])
    assert len(keepalive) == len(connections)


def test_pongs_waiting_unread_through_a_stall_are_read_before_anyone_is_judged() -> None:
    """The hub stopped (SIGSTOP) while its pings were on the way; the pongs wait in the
    sockets. When it runs again its overdue visit comes first (uvloop runs timers before
    it polls the sockets): it must not close the connections whose pongs it has not read
    yet (issue 16). A ping sent before the stall gets its timeout again from the resume."""
    clock = VirtualClock()
    keepalive = KeepaliveRound(clock, INTERVAL, TIMEOUT)
    connections = [Connection(clock, answers=False) for _ in range(2 * SLOTS)]
    for c in connections:
        keepalive.add(c)
    clock.advance(1.3 * INTERVAL)
    assert all(c.pings and c.timed_out_at is None for c in connections)  # every ping unanswered
    clock.stall(5 * INTERVAL)
    clock.advance(0)  # the overdue visit, before any socket is read
    assert [c for c in connections if c.timed_out_at is not None] == []
    resumed = clock.time()
    for c in connections:  # the loop reads the sockets: every pong was there
        c.last_rx = resumed
        c.answers = True
    clock.advance(4 * INTERVAL)
    assert [c for c in connections if c.timed_out_at is not None] == []
    for c in connections:
        assert_once_per_interval([t for t in c.pings if t >= resumed])
    assert len(keepalive) == len(connections)


def test_a_connection_silent_through_a_stall_and_after_is_closed_a_timeout_after_resume() -> None:
    clock = VirtualClock()
    keepalive = KeepaliveRound(clock, INTERVAL, TIMEOUT)
    dead = Connection(clock, answers=False)
    keepalive.add(dead)
    clock.advance(1.3 * INTERVAL)
    assert dead.pings
    clock.stall(5 * INTERVAL)
    clock.advance(0)
    resumed = clock.time()
    clock.advance(TIMEOUT + INTERVAL)
    assert dead.timed_out_at is not None
    waited = dead.timed_out_at - resumed
    assert TIMEOUT * 0.9 <= waited <= TIMEOUT + INTERVAL / 2, waited


def test_a_visit_a_little_late_is_no_stall_and_a_silent_connection_is_closed_in_time() -> None:
    """Lateness a busy loop has (a visit a tenth of an interval late) gives no grace."""
    clock = VirtualClock()
    keepalive = KeepaliveRound(clock, INTERVAL, TIMEOUT)
    silent = Connection(clock, answers=False)
    keepalive.add(silent)
    clock.advance(1.3 * INTERVAL)
    pinged = silent.pings[-1]
    clock.stall(INTERVAL / 10)
    clock.advance(TIMEOUT + INTERVAL / 2)
    assert silent.timed_out_at is not None
    assert silent.timed_out_at - pinged <= TIMEOUT + INTERVAL / 2
