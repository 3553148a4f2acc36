"""How many agent handshakes the hub works on at once, and when a refused agent should return.

After a hub restart thousands of agents reconnect together. Taking all of
them at once makes every handshake slow, agents time out and retry, and the
work done for them is lost (congestion collapse); an alarm from an agent that
is already back waits behind all of it. Refusing what exceeds the limit before
the upgrade costs little, and the refusal says when to come back: the gate
estimates how many handshakes the hub can complete per second and hands the
refused agents consecutive slots of that rate, so they return spread over the
time the hub needs for them, neither all at once (refused again) nor after a
long backoff while the hub sits idle.

The estimate is the completion rate scaled by how full the gate was (Little's
law: a handshake takes in-flight / rate, so a full gate completes
limit / that). The completion rate alone only repeats itself: once the refused
return by their slots, completions follow the slots, and a hub with time to
spare never hands out denser ones (measured: a restart storm's hub busy 65 %
while agents waited for their slots).

An agent with an alarm in its outbox says so in a header and is always let
in: no limit may delay an alarm.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger(__name__)

REPORT_EVERY_S = 5.0
"""Refusals are logged as a count at most this often: a storm must not flood the log."""

RATE_WINDOW_S = 2.0
"""The completion rate is an average that forgets with this time constant: long enough to
smooth a garbage-collection pause, short enough to follow the hub through a storm."""

SLOT_TURNOVER_S = 0.1
"""A handshake holding its slot longer than this waits on its agent or on the database, not
on the hub's CPU, so the hub turns each slot over at least this often, and refused agents
are never spaced wider. As a storm starts, slots are held by agents slow to send their
hello and the measured rate says too little; agents sent back too late leave the hub idle
(a 10,000-agent storm run on the measured rate alone came back slower than plain backoff),
while one sent back too early is only refused again."""

MAX_SPEEDUP = 2.0
"""The estimate is at most this many times the completion rate (and never less): an idle
gate says little about how fast a full one would be, and agents sent back too early are
refused again."""

MAX_RETRY_AFTER_S = 30
"""No agent is told to stay away longer; agents cap the wait at their own backoff cap."""


@dataclass
class CompletionRate:
    """Handshakes completed per second, as an exponentially decaying count.

    A count that forgets with time constant ``window`` holds about
    ``rate * window`` at a steady rate. Until it has been counting for a whole
    window it has seen only part of one, so it is divided by the part seen:
    the first refusals of a storm get the rate measured so far, not a fraction
    of it.
    """

    window: float = RATE_WINDOW_S
    _count: float = 0.0
    _at: float = 0.0
    _since: float = 0.0

    def add(self, now: float) -> None:
        count = self._decayed(now)
        if count < 0.05:  # idle long enough to have forgotten: a new measurement starts
            count, self._since = 0.0, now
        self._count, self._at = count + 1.0, now

    def per_second(self, now: float) -> float:
        seen = self.window * -math.expm1(-(now - self._since) / self.window)
        return self._decayed(now) / max(seen, 0.1)

    def _decayed(self, now: float) -> float:
        return self._count * math.exp(-(now - self._at) / self.window)


@dataclass
class InFlightAverage:
    """The time-weighted average of handshakes in flight, forgetting with ``window``."""

    window: float = RATE_WINDOW_S
    _weighted: float = 0.0  # the decayed integral of in-flight over time
    _time: float = 0.0  # the decayed integral of time itself
    _level: int = 0
    _at: float | None = None

    def set(self, now: float, level: int) -> None:
        self._weighted, self._time = self._integrals(now)
        self._level, self._at = level, now

    def value(self, now: float) -> float:
        weighted, elapsed = self._integrals(now)
        return weighted / elapsed if elapsed > 0 else float(self._level)

    def _integrals(self, now: float) -> tuple[float, float]:
        if self._at is None:
            return 0.0, 0.0
        kept = math.exp(-(now - self._at) / self.window)
        added = self.window * (1.0 - kept)  # the last stretch at the current level
        return self._weighted * kept + self._level * added, self._time * kept + added


@dataclass
class HandshakeGate:
    """At most ``limit`` handshakes at once (alarms excepted); refusals get return slots."""

    limit: int
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    in_flight: int = 0
    refused: int = 0  # since the last report
    completed: CompletionRate = field(default_factory=CompletionRate)
    busy: InFlightAverage = field(default_factory=InFlightAverage)
    _booked_until: float = 0.0  # the last return slot handed out
    _reported_at: float = -math.inf

    def enter(self, *, alarm_waiting: bool) -> bool:
        """True: go ahead, and call ``leave`` when done. False: refuse with ``retry_after``."""
        if self.refuses(alarm_waiting=alarm_waiting):
            self.refuse()
            return False
        self.in_flight += 1
        self.busy.set(self.clock(), self.in_flight)
        return True

    def refuses(self, *, alarm_waiting: bool) -> bool:
        """Whether ``enter`` would refuse now; changes nothing."""
        return self.in_flight >= self.limit and not alarm_waiting

    def refuse(self) -> int:
        """Books the refused agent's return slot; returns its Retry-After in seconds."""
        now = self.clock()
        # One slot per refused agent, 1/rate apart, after the ones already handed out.
        self._booked_until = min(
            max(self._booked_until, now) + 1.0 / self.rate(now), now + MAX_RETRY_AFTER_S
        )
        self.refused += 1
        if now - self._reported_at >= REPORT_EVERY_S:
            log.warning(
                "handshakes_refused",
                count=self.refused,
                limit=self.limit,
                per_second=round(self.rate(now)),
                retry_after=self.retry_after(),
            )
            self.refused, self._reported_at = 0, now
        return self.retry_after()

    def leave(self) -> None:
        now = self.clock()
        self.in_flight -= 1
        self.busy.set(now, self.in_flight)
        self.completed.add(now)

    def rate(self, now: float) -> float:
        """Handshakes per second the hub would complete with the gate full, or what its
        slots allow at least."""
        # Never less than measured: more in flight than the limit (agents with an
        # alarm waiting) shares the same CPU, it does not make the hub slower.
        speedup = min(max(self.limit / max(self.busy.value(now), 1.0), 1.0), MAX_SPEEDUP)
        return max(self.completed.per_second(now) * speedup, self.limit / SLOT_TURNOVER_S)

    def retry_after(self) -> int:
        """Whole seconds until the return slot of the agent refused last (for Retry-After)."""
        wait = self._booked_until - self.clock()
        # Less a microsecond: slots added up in floating point must not tip into the next second.
        return min(MAX_RETRY_AFTER_S, max(1, math.ceil(wait - 1e-6)))
