"""How much a connection may send. Alarms are never limited, whatever else an agent does.

Two token buckets per connection, kept on the connection itself. (The `limits`
library was tried first: its in-memory storage walks every key from a thread
every 10 ms, which with 10,000 agents took most of a core from the event loop
and cost live agents their heartbeats; see docs/performance.md.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.protocol import CancelAlarm, RaiseAlarm


@dataclass
class TokenBucket:
    capacity: float
    refill_per_s: float
    tokens: float = field(init=False)
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.refill_per_s)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class MessageLimiter:
    """100 messages a second and 1,200 a minute besides alarms, per connection.

    Receipts for alarms the hub sent are not counted either (dispatch/web/agent_ws.py,
    AgentPeer.confirms): a guard's PC confirms every alarm of a burst. Tight for a
    flood of anything else.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        now = clock()
        self._buckets = (TokenBucket(100, 100, now), TokenBucket(1200, 1200 / 60, now))

    def allow(self, message: object) -> bool:
        if isinstance(message, RaiseAlarm | CancelAlarm):
            return True
        now = self._clock()
        return all([bucket.take(now) for bucket in self._buckets])
