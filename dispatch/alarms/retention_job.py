"""The hub's daily retention run: ``retention.prune`` soon after start, then every day."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime

import structlog

from dispatch.alarms.retention import Pruned, RetentionPolicy, prune
from dispatch.store.database import Database
from shared.protocol import utc_now

log = structlog.get_logger(__name__)

DAY_S = 24 * 3600.0
FIRST_RUN_S = 300.0
"""After a start the alarm path settles first (a restart storm); then the first run."""
ACTOR = "hub:retention"


class DailyPruning:
    """Runs the retention policy every ``interval`` seconds; a failed run waits for the next."""

    def __init__(
        self,
        db: Database,
        policy: RetentionPolicy,
        *,
        first_after: float = FIRST_RUN_S,
        interval: float = DAY_S,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._db = db
        self._policy = policy
        self._first_after = first_after
        self._interval = interval
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self.last: Pruned | None = None  # the latest run's result

    def start(self) -> None:
        if not self._policy.keeps_everything:
            self._task = asyncio.create_task(self._every_interval(), name="retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> Pruned:
        pruned = await prune(self._db, self._policy, now=self._clock(), actor=ACTOR)
        if pruned.anything:
            log.info(
                "retention_pruned",
                alarms=pruned.alarms,
                self_tests=pruned.self_tests,
                audit_events=pruned.audit_events,
            )
        self.last = pruned
        return pruned

    async def _every_interval(self) -> None:
        delay = self._first_after
        while True:
            await asyncio.sleep(delay)
            delay = self._interval
            try:
                await self.run_once()
            except Exception as error:  # tomorrow's run tries again; the alarm path goes on
                log.warning("retention_failed", error=str(error))
