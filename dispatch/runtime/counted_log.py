"""A warning that an attacker or a storm could repeat thousands of times a second,
logged at most every few seconds with how often it happened meanwhile."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

REPORT_EVERY_S = 5.0


@dataclass
class CountedWarning:
    """Counts an event; logs ``event`` with ``count`` (since the last line, this one
    included) on the first and then at most every ``every`` seconds."""

    log: Any  # the module's structlog logger, so the line names where it happened
    event: str
    every: float = REPORT_EVERY_S
    clock: Callable[[], float] = time.monotonic
    count: int = 0
    reported_at: float = -math.inf

    def add(self, **context: object) -> None:
        self.count += 1
        now = self.clock()
        if now - self.reported_at >= self.every:
            self.log.warning(self.event, count=self.count, **context)
            self.count, self.reported_at = 0, now
