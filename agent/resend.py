"""When the link sends an alarm again that the hub could not store (``error`` ``internal``).

The hub answers ``internal`` when it could not commit an alarm: its database is
restarting, its disk is full. The alarm stays in the outbox, and waiting for
some later reconnect to flush it left alarms unstored for minutes (issue 16).
So the link sends it again on the same connection after 0.25 s, doubling up to
2 s, until ``alarm_stored``: an alarm is stored at most about 2 s after the
cause is gone. No jitter: it is one alarm per raiser, not a fleet reconnecting.

Qt-free and without I/O: the link passes its event loop (``call_later``), the
unit tests a virtual clock (tests/support/virtual_clock.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Protocol

FIRST_DELAY = 0.25
"""Seconds before the first re-send: a hub that failed once may well store it now."""

MAX_DELAY = 2.0
"""Re-sends are at most this far apart, so the alarm is stored ≤ 2 s after the cause is
gone (plus one store), well inside the 5 s the team promised."""


class Timer(Protocol):
    """A callback scheduled on the loop (asyncio.TimerHandle)."""

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """What the rule needs of the event loop: a callback after a delay."""

    def call_later(self, delay: float, callback: Callable[[], object], /) -> Timer: ...


class Resends:
    """Alarms the hub refused to store on this connection, each sent again after its delay."""

    def __init__(
        self,
        scheduler: Scheduler,
        resend: Callable[[uuid.UUID], object],
        first: float = FIRST_DELAY,
        cap: float = MAX_DELAY,
    ) -> None:
        self._scheduler = scheduler
        self._resend = resend
        self.first = first
        self.cap = cap
        self._refusals: dict[uuid.UUID, int] = {}
        self._timers: dict[uuid.UUID, Timer] = {}

    def refused(self, alarm_id: uuid.UUID) -> float:
        """The hub could not store the alarm: it is sent again after the returned delay."""
        count = self._refusals.get(alarm_id, 0)
        self._refusals[alarm_id] = count + 1
        delay: float = min(self.cap, self.first * 2.0 ** min(count, 32))
        earlier = self._timers.pop(alarm_id, None)
        if earlier is not None:  # refused twice before the re-send: one re-send, not two
            earlier.cancel()
        self._timers[alarm_id] = self._scheduler.call_later(delay, lambda: self._due(alarm_id))
        return delay

    def stored(self, alarm_id: uuid.UUID) -> None:
        """The hub stored it: no more re-sends, and a later refusal starts again at ``first``."""
        self._refusals.pop(alarm_id, None)
        timer = self._timers.pop(alarm_id, None)
        if timer is not None:
            timer.cancel()

    def clear(self) -> None:
        """The connection ended: the next one sends every alarm of the outbox anyway."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._refusals.clear()

    @property
    def waiting(self) -> frozenset[uuid.UUID]:
        """Alarms with a re-send scheduled."""
        return frozenset(self._timers)

    def _due(self, alarm_id: uuid.UUID) -> None:
        self._timers.pop(alarm_id, None)
        self._resend(alarm_id)
