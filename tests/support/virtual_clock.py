"""A virtual clock with timers: a test moves time on itself, so no assertion depends on load.

It stands in for the event loop where code asks only for ``time()`` and
``call_at()`` (dispatch.net.keepalive.Scheduler). Time stands still until the test
advances it; then every callback that has come due runs, in the order of its
time (callbacks due at the same time in the order they were scheduled), with
``time()`` reading that time. A callback scheduled in the past runs at once,
at the current time, as on the asyncio loop.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True)
class VirtualTimer:
    """One scheduled callback; ``cancel()`` calls it off."""

    when: float
    sequence: int
    callback: Callable[[], object] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """Time and timers that move only when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        # Not 0: code under test that treats 0.0 as "never" would pass by accident.
        self._now = start
        self._timers: list[VirtualTimer] = []
        self._scheduled = 0

    def time(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], object], /) -> VirtualTimer:
        timer = VirtualTimer(when, self._scheduled, callback)
        self._scheduled += 1
        heapq.heappush(self._timers, timer)
        return timer

    def call_later(self, delay: float, callback: Callable[[], object], /) -> VirtualTimer:
        return self.call_at(self._now + delay, callback)

    @property
    def pending(self) -> int:
        """Timers scheduled and neither run nor cancelled."""
        return sum(1 for timer in self._timers if not timer.cancelled)

    def run_until(self, until: float) -> None:
        """Run every callback due by ``until`` (including those they schedule), then stop there."""
        if until < self._now:
            raise ValueError(f"time runs forward: {until} is before {self._now}")
        while self._timers and self._timers[0].when <= until:
            timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, timer.when)
            timer.callback()
        self._now = until

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass, running what comes due on the way."""
        self.run_until(self._now + seconds)

    def stall(self, seconds: float) -> None:
        """The loop is blocked (a long GC pause): time passes, nothing runs. What came due
        meanwhile runs late, at the next advance, all reading the time the stall ended."""
        self._now += seconds
