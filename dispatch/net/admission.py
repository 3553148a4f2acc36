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

Refusing most of a storm still costs every refused agent a round trip and a
wait for its slot, and a first start or a storm came back slower than a hub
with no gate at all, which takes everyone and lets the kernel queue them. So
an upgrade over the limit first waits in a bounded queue (``max_queued``),
its connection not read meanwhile, and goes on with its upgrade when a slot
frees, first come first served. Only one that finds the queue full, or that
waits longer than ``max_wait`` (shorter than the agent's own handshake timeout
of 5 s: an agent that gives up leaves its place wasted), is answered 503 with
a return slot.

An agent with an alarm in its outbox says so in a header and is always let
in, past the queue too: no limit may delay an alarm.

Against a LAN attacker (docs/security.md), without a login:

- Upgraded sockets that never send a hello held the gate's slots until their
  hello timeout and locked real agents out. One address may hold at most
  ``per_address`` handshakes that have not authenticated yet, in a slot or
  waiting in the queue; more from it are refused at once (503 + Retry-After),
  so it can fill neither the slots nor the queue. Real agents send their hello
  right after the upgrade, so even a terminal server with many agents behind
  one address rarely has more than a few in that state at once.
- The "alarm waiting" header let anyone past the gate. Its priority now holds
  only while the address has not abused it: a handshake that claimed it and
  leaves without authenticating (no hello in time, a bad token, gone) costs
  its address the priority for ``CLAIM_PENALTY_S``. Priority handshakes never
  take one of the gate's slots, so claims cannot crowd real agents out either.
"""

from __future__ import annotations

import math
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from dispatch.runtime.metrics import Metrics

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

MAX_QUEUED = 4000
"""Upgrades waiting for a slot at most, by default (SILENT_ALARM_MAX_QUEUED_HANDSHAKES)."""

MAX_WAIT_S = 3.0
"""Seconds an upgrade waits for a slot at most, by default (SILENT_ALARM_MAX_HANDSHAKE_WAIT):
the agent gives up after 5 s (agent/link.py HANDSHAKE_TIMEOUT), which also covers its TCP
connect (a second more when a SYN was dropped) and the answer's way back."""

MAX_RETRY_AFTER_S = 30
"""No agent is told to stay away longer; agents cap the wait at their own backoff cap."""

CLAIM_PENALTY_S = 300.0
"""An address whose "alarm waiting" handshake failed to authenticate has no priority for
this long: long enough that abusing it gains an attacker a moment in five minutes, short
enough that a real agent behind that address (a shared terminal server) has it back soon.
Its alarms still get in, at the pace of the gate."""


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
class Handshake:
    """One agent's way through the gate, from the upgrade until it leaves."""

    address: str
    priority: bool  # let in for an alarm waiting; takes no slot
    authenticated: bool = False


class Waiter(Protocol):
    """The connection behind a place in the queue."""

    def admitted(self, handshake: Handshake) -> None:
        """Its turn: the slot is taken for it; go on with the upgrade, ``leave`` when done.
        Called from inside ``leave`` of another handshake: do the work later, not here."""
        ...


@dataclass(eq=False)
class Place:
    """An upgrade waiting in the queue for a slot."""

    address: str
    waiter: Waiter = field(repr=False)


@dataclass
class HandshakeGate:
    """At most ``limit`` handshakes at once (alarms excepted), up to ``max_queued`` more
    waiting for a slot, at most ``per_address`` of both not yet authenticated from one
    address; refusals get return slots."""

    limit: int
    per_address: int = 0  # 0: as many as the gate holds (its limit and its queue)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    exempt: Container[str] = frozenset()  # trusted reverse proxies: many clients, one address
    claim_penalty_s: float = CLAIM_PENALTY_S
    max_queued: int = 0  # 0: no queue, over the limit is refused at once
    max_wait: float = MAX_WAIT_S
    in_flight: int = 0
    priority_in_flight: int = 0
    refused: int = 0  # since the last report
    completed: CompletionRate = field(default_factory=CompletionRate)
    busy: InFlightAverage = field(default_factory=InFlightAverage)
    unauthenticated: Counter[str] = field(default_factory=Counter)  # in a slot or queued
    # First come, first served; a place given up leaves from wherever it is (OrderedDict:
    # both ends and the middle in constant time).
    queue: OrderedDict[Place, None] = field(default_factory=OrderedDict)
    _penalised_until: dict[str, float] = field(default_factory=dict)
    _booked_until: float = 0.0  # the last return slot handed out
    _reported_at: float = -math.inf
    metrics: Metrics | None = field(default=None, repr=False)

    def enter(self, *, alarm_waiting: bool, address: str = "") -> Handshake | None:
        """A handshake: go ahead, and call ``leave`` with it when done. None: refuse
        with ``retry_after``. Never queues (for connections that cannot wait)."""
        if self.has_priority(alarm_waiting, address):
            return self._take_slot(address, priority=True)
        if self._over_share(address) or not self._slot_free() or self.queue:
            self.refuse()
            return None
        return self._take_slot(address, priority=False)

    def request(
        self, *, alarm_waiting: bool, address: str, waiter: Waiter
    ) -> Handshake | Place | None:
        """A handshake now (as ``enter``), a place in the queue (``waiter.admitted`` is
        called when a slot is free; ``withdraw`` it if the connection goes or waits longer
        than ``max_wait``), or None: refuse with ``refuse()``."""
        if self.has_priority(alarm_waiting, address):
            return self._take_slot(address, priority=True)
        if self._over_share(address):
            return None
        if self._slot_free() and not self.queue:
            return self._take_slot(address, priority=False)
        if len(self.queue) >= self.max_queued:
            return None
        place = Place(address, waiter)  # its wait is timed by its connection
        self.queue[place] = None
        self.unauthenticated[address] += 1
        return place

    def withdraw(self, place: Place) -> None:
        """A place given up before its turn: its connection went, or it waited too long."""
        if place in self.queue:
            del self.queue[place]
            self._forget_unauthenticated(place.address)

    def _over_share(self, address: str) -> bool:
        per_address = self.per_address or self.limit + self.max_queued
        return self.unauthenticated[address] >= per_address and address not in self.exempt

    def crowded(self) -> bool:
        """Every slot taken or upgrades queued: a storm, where the hub's throughput counts
        for more than one handshake's wait (its reads linger to be shared)."""
        return bool(self.queue) or not self._slot_free()

    def _slot_free(self) -> bool:
        return self.in_flight - self.priority_in_flight < self.limit

    def _take_slot(self, address: str, *, priority: bool, queued: bool = False) -> Handshake:
        handshake = Handshake(address, priority=priority)
        self.in_flight += 1
        self.priority_in_flight += priority
        if not queued:  # a queued one was counted against its address when it queued
            self.unauthenticated[address] += 1
        self.busy.set(self.clock(), self.in_flight)
        return handshake

    def _let_the_queue_in(self) -> None:
        while self.queue and self._slot_free():
            place, _ = self.queue.popitem(last=False)
            place.waiter.admitted(self._take_slot(place.address, priority=False, queued=True))

    def has_priority(self, alarm_waiting: bool, address: str) -> bool:
        """An alarm waiting, claimed from an address that has not abused the claim lately."""
        if not alarm_waiting:
            return False
        until = self._penalised_until.get(address)
        if until is None:
            return True
        if until > self.clock():
            return False
        del self._penalised_until[address]
        return True

    def authenticated(self, handshake: Handshake) -> None:
        """Its hello named a workstation with the right token: no longer counted against
        its address, and its claim of an alarm waiting was honest."""
        if not handshake.authenticated:
            handshake.authenticated = True
            self._forget_unauthenticated(handshake.address)

    def refuse(self) -> int:
        """Books the refused agent's return slot; returns its Retry-After in seconds."""
        now = self.clock()
        rate = self.rate(now)
        # One slot per refused agent, 1/rate apart, after the ones already handed out
        # and after the queue: those waiting in it go first.
        self._booked_until = min(
            max(self._booked_until, now + len(self.queue) / rate) + 1.0 / rate,
            now + MAX_RETRY_AFTER_S,
        )
        self.refused += 1
        if self.metrics is not None:
            self.metrics.handshakes_refused.labels(reason="busy").inc()
        if now - self._reported_at >= REPORT_EVERY_S:
            log.warning(
                "handshakes_refused",
                count=self.refused,
                limit=self.limit,
                queued=len(self.queue),
                per_second=round(rate),
                retry_after=self.retry_after(),
            )
            self.refused, self._reported_at = 0, now
        return self.retry_after()

    def leave(self, handshake: Handshake) -> None:
        now = self.clock()
        self.in_flight -= 1
        self.priority_in_flight -= handshake.priority
        self.busy.set(now, self.in_flight)
        self._let_the_queue_in()
        if handshake.authenticated:
            self.completed.add(now)
            return
        self._forget_unauthenticated(handshake.address)
        if handshake.priority and handshake.address not in self.exempt:
            # Claimed an alarm and never showed who it is: the claim was false.
            if handshake.address not in self._penalised_until:  # one line, not one per claim
                log.warning(
                    "alarm_claim_failed", address=handshake.address, penalty_s=self.claim_penalty_s
                )
            self._penalised_until[handshake.address] = now + self.claim_penalty_s

    def _forget_unauthenticated(self, address: str) -> None:
        left = self.unauthenticated[address] - 1
        if left > 0:
            self.unauthenticated[address] = left
        else:
            del self.unauthenticated[address]

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
