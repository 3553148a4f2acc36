"""The site's countdown before sending and cancel window after storing, as Qt-free state machines.

Both come from the hub's policy (``Welcome.levels``, ``AlarmStored.cancel_window_s``)
and are off unless the policy sets them: by default an alarm goes out at once.
Times are ``time.monotonic()`` seconds passed in by the caller, so tests need no clock.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from shared.domain import AlarmLevel, Trigger
from shared.protocol import LevelSettings

CANCEL_MARGIN = 1.0
"""Seconds the agent's cancel window closes before the hub's: the hub counts from its
own stored_at, which is a little earlier than when the agent hears of it."""


def countdowns(levels: Iterable[LevelSettings]) -> dict[AlarmLevel, int]:
    """Countdown seconds per level from the last Welcome; a level not listed has none."""
    return {settings.level: settings.countdown_s for settings in levels}


@dataclass(frozen=True)
class Pending:
    """An alarm waiting for its countdown: nothing is on disk or on the wire yet."""

    level: AlarmLevel
    trigger: Trigger
    deadline: float


class Countdown:
    """At most one alarm waits at a time; a second press sends it at once."""

    def __init__(self) -> None:
        self._pending: Pending | None = None

    @property
    def pending(self) -> Pending | None:
        return self._pending

    def press(
        self, level: AlarmLevel, trigger: Trigger, seconds: int, now: float
    ) -> tuple[AlarmLevel, Trigger] | None:
        """What to send now, or None while a countdown of ``seconds`` runs.

        Pressing again during a countdown means "now": the waiting alarm is sent
        at once, at the higher of the two levels.
        """
        waiting = self._pending
        if waiting is not None:
            self._pending = None
            return max(level, waiting.level), waiting.trigger
        if seconds <= 0:
            return level, trigger
        self._pending = Pending(level, trigger, now + seconds)
        return None

    def remaining(self, now: float) -> int:
        """Whole seconds left (rounded up), 0 when nothing waits."""
        if self._pending is None:
            return 0
        return max(0, math.ceil(self._pending.deadline - now))

    def due(self, now: float) -> tuple[AlarmLevel, Trigger] | None:
        """The alarm to send now that its countdown has run out, once."""
        waiting = self._pending
        if waiting is None or now < waiting.deadline:
            return None
        self._pending = None
        return waiting.level, waiting.trigger

    def cancel(self) -> Pending | None:
        """Drop the waiting alarm: nothing is sent. Returns what was dropped."""
        waiting, self._pending = self._pending, None
        return waiting


class CancelWindows:
    """Own alarms the raiser may still withdraw, each until its window closes."""

    def __init__(self, margin: float = CANCEL_MARGIN) -> None:
        self._margin = margin
        self._until: dict[uuid.UUID, float] = {}
        self._closed: set[uuid.UUID] = set()  # a re-sent AlarmStored never reopens one

    def stored(self, alarm_id: uuid.UUID, cancel_window_s: int, now: float) -> bool:
        """Open the window for a freshly stored alarm; True if one opened."""
        if alarm_id in self._until or alarm_id in self._closed:
            return False
        until = now + cancel_window_s - self._margin
        if until <= now:
            return False
        self._until[alarm_id] = until
        return True

    def open(self, now: float) -> list[tuple[uuid.UUID, int]]:
        """Alarms still cancellable with whole seconds left, newest window last."""
        for alarm_id in [a for a, until in self._until.items() if until <= now]:
            self.close(alarm_id)
        return [(a, math.ceil(until - now)) for a, until in self._until.items()]

    def take(self, alarm_id: uuid.UUID, now: float) -> bool:
        """The raiser withdraws alarm_id: True if its window is still open (then it closes)."""
        until = self._until.get(alarm_id)
        self.close(alarm_id)
        return until is not None and now < until

    def close(self, alarm_id: uuid.UUID) -> None:
        """The window ends: it ran out, the alarm was withdrawn, resolved or cancelled."""
        self._until.pop(alarm_id, None)
        self._closed.add(alarm_id)
