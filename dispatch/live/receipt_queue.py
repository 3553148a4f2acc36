"""Receipts waiting to be written: gathered for a few milliseconds, then stored in one commit."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Container

from dispatch.alarms.record import ReceiptOutcome

RECEIPT_BATCH_WINDOW = 0.02
"""Seconds receipts are gathered before one commit writes them all."""

Receipt = tuple[uuid.UUID, str]  # (alarm, the workstation whose popup is on screen)


class ReceiptQueue:
    """Receipts not yet committed, and when each alarm last got one (for re-delivery)."""

    def __init__(self, store: Callable[[Collection[Receipt]], Awaitable[ReceiptOutcome]]) -> None:
        self._store = store
        self._waiting: set[Receipt] = set()
        self._writing: set[Receipt] = set()  # the batch being committed
        self._arrived = asyncio.Event()
        self._last: dict[uuid.UUID, float] = {}  # monotonic time, per alarm
        # Alarms whose popups went out before their commit: no row to mark yet, so their
        # receipts wait here until they are stored (Hub.raise_alarm).
        self._held: set[uuid.UUID] = set()

    def add(self, alarm_id: uuid.UUID, workstation_id: str) -> None:
        self._waiting.add((alarm_id, workstation_id))
        self._last[alarm_id] = time.monotonic()
        self._arrived.set()

    async def due(self) -> None:
        """Returns once receipts are waiting and the window for more has passed."""
        await self._arrived.wait()
        await asyncio.sleep(RECEIPT_BATCH_WINDOW)

    def hold(self, alarm_id: uuid.UUID) -> None:
        """The alarm is not stored yet: its receipts wait until ``release``."""
        self._held.add(alarm_id)

    def release(self, alarm_id: uuid.UUID) -> None:
        """The alarm is stored (or never will be): its receipts go with the next batch."""
        self._held.discard(alarm_id)
        if any(held == alarm_id for held, _ in self._waiting):
            self._arrived.set()

    async def write(self) -> ReceiptOutcome:
        """Stores every waiting receipt in one commit, except those of held alarms."""
        if self._held:
            batch = {r for r in self._waiting if r[0] not in self._held}
            self._waiting -= batch
        else:
            batch, self._waiting = self._waiting, set()
        self._arrived.clear()
        if not batch:
            return ReceiptOutcome(set(), {})
        self._writing = batch
        try:
            return await self._store(batch)
        finally:
            self._writing = set()

    def holds(self, alarm_id: uuid.UUID, workstation_id: str) -> bool:
        """Confirmed but not committed yet: waiting for the next batch, or in it."""
        key = (alarm_id, workstation_id)
        return key in self._waiting or key in self._writing

    def last_at(self, alarm_id: uuid.UUID) -> float:
        """When the alarm last got a receipt (monotonic; 0.0: not since it was kept)."""
        return self._last.get(alarm_id, 0.0)

    def keep_only(self, alarm_ids: Container[uuid.UUID]) -> None:
        """Forgets the alarms that get no more receipts."""
        self._last = {alarm_id: at for alarm_id, at in self._last.items() if alarm_id in alarm_ids}
