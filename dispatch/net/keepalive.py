"""One keepalive round for all the hub's WebSockets: pings spread out, silent peers closed.

uvicorn's own keepalive gives every connection a ping timer and a pong
timer, builds each ping frame anew and reschedules both after every pong:
at 10,000 idle agents those timer operations and frames are a large share of
the hub's idle CPU. Here one timer walks the connections in slots, so each is
visited twice per interval and the pings are spread evenly over it (no burst
that would hold up an alarm). The ping is one prebuilt frame; a pong needs no
bookkeeping, because any frame from the peer counts as a sign of life.

The rule is uvicorn's: a connection is pinged every interval, and closed with
1011 when nothing at all has arrived ``timeout`` seconds after a ping (a lost,
frozen or half-open peer), so within interval + timeout of its last sign of life.
Except while the hub has stopped reading the connection because the application
is still working through what it sent (a burst of alarms): the answer may be in
the socket unread, and closing then would drop the alarms behind it. And except
after the hub's own loop stood still (SIGSTOP, a long pause): the round's next
visit comes due before the sockets are read, so a ping sent before the stall
gets its timeout again from the moment the loop ran again
(dispatch/runtime/loop_stalls.py).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Protocol

from websockets.frames import Frame, Opcode

from dispatch.runtime.loop_stalls import StallWatch

PING_FRAME = Frame(Opcode.PING, b"").serialize(mask=False)
"""A server's frames are not masked, so every ping is the same two bytes."""

SLOTS = 25
"""Connections visited per tick = connections / SLOTS; a tick every interval / 50."""


class Timer(Protocol):
    """A callback scheduled on the loop (asyncio.TimerHandle)."""

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """What the round needs of the event loop: its clock, and a callback at a time on it.

    The asyncio loop is one; the unit tests pass a virtual clock, so that what
    the round does and when does not depend on how busy the machine is."""

    def time(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], object], /) -> Timer: ...


class Pingable(Protocol):
    """What the round needs of a connection (dispatch.net.connection.HubWebSocketProtocol)."""

    last_rx: float
    """Loop time of the last bytes received."""
    ping_sent_at: float
    """Loop time of the last ping; a ping is outstanding while nothing arrived since."""
    read_paused: bool
    """The application has not yet taken what arrived, so the socket is not being read:
    the answer may be waiting there. The hub is behind, not the peer."""

    def send_ping_frame(self) -> None: ...

    def keepalive_timeout(self) -> None: ...


class KeepaliveRound:
    """Pings each connection every ``interval``; closes one silent ``timeout`` after a ping."""

    def __init__(self, scheduler: Scheduler, interval: float, timeout: float) -> None:
        self._scheduler = scheduler
        self.interval = interval
        self.timeout = timeout
        visit_every = interval / 2
        self._tick = visit_every / SLOTS
        # A visit may come a little early or late: half a visit's spacing of slack keeps
        # "every second visit" from slipping to every third.
        self._slack = visit_every / 2
        # Visits are a tick apart, so a visit this late means the loop itself stood still;
        # a pong can only be judged missing after a stall of nearly the whole timeout.
        self._stalls = StallWatch(tolerance=timeout / 2)
        self._slots: list[set[Pingable]] = [set() for _ in range(SLOTS)]
        self._slot_of: dict[Pingable, int] = {}
        self._next_slot = 0
        self._cursor = 0
        self._due = 0.0
        self._timer: Timer | None = None

    def __len__(self) -> int:
        return len(self._slot_of)

    def add(self, connection: Pingable) -> None:
        """From now on: first ping about one interval later, then every interval."""
        now = self._scheduler.time()
        connection.last_rx = connection.ping_sent_at = now
        slot = self._next_slot
        self._next_slot = (slot + 1) % SLOTS
        self._slots[slot].add(connection)
        self._slot_of[connection] = slot
        if self._timer is None:
            self._due = now + self._tick
            self._timer = self._scheduler.call_at(self._due, self._visit_next_slot)

    def discard(self, connection: Pingable) -> None:
        slot = self._slot_of.pop(connection, None)
        if slot is not None:
            self._slots[slot].discard(connection)
        if not self._slot_of and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _visit_next_slot(self) -> None:
        now = self._scheduler.time()
        self._stalls.fired(self._due, now)
        slot = self._slots[self._cursor]
        self._cursor = (self._cursor + 1) % SLOTS
        for connection in list(slot):  # a timeout closes and so discards
            self._visit(connection, now)
        if not self._slot_of:
            self._timer = None
            return
        # On a schedule, not "tick after the last one ran": a busy loop delays a visit,
        # not the whole round; after a long stall it starts afresh instead of catching up.
        self._due = max(self._due + self._tick, now)
        self._timer = self._scheduler.call_at(self._due, self._visit_next_slot)

    def _visit(self, connection: Pingable, now: float) -> None:
        since_ping = now - connection.ping_sent_at
        if connection.last_rx < connection.ping_sent_at:  # the last ping is unanswered
            if connection.read_paused:
                return  # judged once the hub has caught up with it and read again
            waited = now - self._stalls.silent_since(connection.ping_sent_at)
            if waited >= self.timeout - self._slack / 2:
                self.discard(connection)
                connection.keepalive_timeout()
        elif since_ping >= self.interval - self._slack:
            connection.ping_sent_at = now
            connection.send_ping_frame()


_rounds: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[float, float], KeepaliveRound]
] = weakref.WeakKeyDictionary()


def round_for(loop: asyncio.AbstractEventLoop, interval: float, timeout: float) -> KeepaliveRound:
    """The loop's round for these settings: one per server, shared by its connections."""
    per_loop = _rounds.setdefault(loop, {})
    key = (interval, timeout)
    if key not in per_loop:
        per_loop[key] = KeepaliveRound(loop, interval, timeout)
    return per_loop[key]
