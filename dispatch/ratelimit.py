"""How much a connection may send. Alarms are never limited, whatever else an agent does."""

from __future__ import annotations

from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from shared.protocol import CancelAlarm, RaiseAlarm

NON_ALARM_LIMITS = parse_many("100/second;1200/minute")
"""Generous for replays after a reconnect (one receipt per open alarm), tight for a flood."""


class MessageLimiter:
    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def allow(self, sender: str, message: object) -> bool:
        if isinstance(message, RaiseAlarm | CancelAlarm):
            return True
        return all(self._limiter.hit(limit, sender) for limit in NON_ALARM_LIMITS)
