"""Notices that the hub's event loop itself stood still, so peers are not blamed for its silence.

A hub that was stopped (SIGSTOP, a paused VM, a long swap-in) or held by a long
pause finds its peers' messages waiting in its sockets when it runs again. But its
overdue timers run first: uvloop runs timers before it polls the sockets, and
asyncio's wait returns no events when its deadline passed while stopped. Silence
judged then is the hub's own: after SIGCONT the hub closed a healthy, pinging
console with 4504 in 27 of 30 stops (issue 16). A repeating timer that fires much
later than it was due shows such a stall; from then on a peer's silence counts
from the moment the loop ran again, a fresh grace period, so the hub reads first.
"""

from __future__ import annotations

import math


class StallWatch:
    """Remembers when the loop last ran again after a stall longer than ``tolerance``."""

    def __init__(self, tolerance: float) -> None:
        self.tolerance = tolerance
        self.resumed_at = -math.inf

    def fired(self, due: float, now: float) -> bool:
        """A timer due at ``due`` ran at ``now``: True if that late means the loop stood still."""
        if now - due <= self.tolerance:
            return False
        self.resumed_at = max(self.resumed_at, now)
        return True

    def silent_since(self, last_heard: float) -> float:
        """From when a peer last heard at ``last_heard`` counts as silent: never before the
        loop last ran again, since what it sent meanwhile may still be unread."""
        return max(last_heard, self.resumed_at)
