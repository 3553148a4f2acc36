"""How many agent handshakes the hub works on at once; the rest are told "503, retry".

After a hub restart thousands of agents reconnect together. Taking all of
them at once makes every handshake slow, agents time out and retry, and the
work done for them is lost (congestion collapse); an alarm from an agent that
is already back waits behind all of it. Refusing what exceeds the limit before
the upgrade costs almost nothing, and the agent's backoff spreads the retries.

An agent with an alarm in its outbox says so in a header and is always let
in: no limit may delay an alarm.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)

REPORT_EVERY_S = 5.0
"""Refusals are logged as a count at most this often: a storm must not flood the log."""


@dataclass
class HandshakeGate:
    limit: int
    in_flight: int = 0
    refused: int = 0  # since the last report
    _reported_at: float = 0.0

    def enter(self, *, alarm_waiting: bool) -> bool:
        if self.in_flight >= self.limit and not alarm_waiting:
            self.refused += 1
            now = time.monotonic()
            if now - self._reported_at >= REPORT_EVERY_S:
                log.warning("handshakes_refused", count=self.refused, limit=self.limit)
                self.refused, self._reported_at = 0, now
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight -= 1
