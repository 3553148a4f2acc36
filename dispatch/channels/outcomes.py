"""Writes the queue's outcomes in batches: one transaction and one console update for many rows.

150 recipients of one alarm finish their sends within a few hundred milliseconds;
written one by one they were 150 write turns and 150 console broadcasts on the
hub's event loop. Outcomes arriving within `WINDOW_S` (or `MAX_ROWS` of them) are
written in one transaction, and ``on_change`` is called once per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, update

from dispatch.channels.base import Failed, Outcome, Sent
from dispatch.channels.retry import DeliveryState, retry_delay
from dispatch.store.database import Database
from dispatch.store.models import ChannelDelivery

WINDOW_S = 0.05
MAX_ROWS = 200


@dataclass(frozen=True, slots=True)
class Change:
    """What one claimed row becomes; the values it keeps are copied from the claim."""

    row_id: int
    alarm_id: str
    state: DeliveryState
    due_at: datetime
    sent_at: datetime | None
    reference: str
    last_error: str


def change_for(
    row: ChannelDelivery, outcome: Outcome | None, now: datetime, max_attempts: int
) -> Change:
    """``None``: the sender process was lost mid-send, so the row is due again at once
    under its key (given up once its attempts are spent: a job that kills the process
    every time must not do so for ever)."""
    due_at, sent_at, reference = row.due_at, row.sent_at, row.reference
    match outcome:
        case Sent(reference=sent_reference):
            sent_at, reference = now, sent_reference[:300]
            state, error = DeliveryState.SENT, ""
        case Failed(reason=reason, retryable=True) if row.attempts < max_attempts:
            due_at = now + retry_delay(row.attempts)
            state, error = DeliveryState.FAILED, reason[:300]
        case Failed(reason=reason):
            state, error = DeliveryState.GIVEN_UP, reason[:300]
        case None if row.attempts < max_attempts:
            state, error = DeliveryState.DUE, row.last_error
        case None:
            state, error = DeliveryState.GIVEN_UP, "the sender process was lost mid-send"
    return Change(row.id, row.alarm_id, state, due_at, sent_at, reference, error)


_TABLE = cast(Table, ChannelDelivery.__table__)
# Only a row still "sending" is written: a graceful stop or another instance may have
# moved it on meanwhile.
_WRITE = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("b_id"), _TABLE.c.state == DeliveryState.SENDING.value)
    .values(
        state=bindparam("b_state"),
        due_at=bindparam("b_due_at"),
        sent_at=bindparam("b_sent_at"),
        reference=bindparam("b_reference"),
        last_error=bindparam("b_last_error"),
        claimed_at=None,
    )
)


class OutcomeWriter:
    def __init__(self, db: Database, on_change: Callable[[set[str]], None]) -> None:
        self._db = db
        self.on_change = on_change
        # Groups of changes (one frame of the sender's answers) and the future each awaits;
        # a group is never split between two transactions.
        self._waiting: list[tuple[list[Change], asyncio.Future[None]]] = []
        self._rows = 0  # changes waiting, over all groups
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # transactions written (tests, the benchmark)

    async def record(self, change: Change) -> None:
        """Returns once the change is written (with the others of its batch)."""
        await self.record_many([change])

    async def record_many(self, changes: list[Change]) -> None:
        """Returns once all of them are written (in one transaction, maybe with others)."""
        if not changes:
            return
        written = asyncio.get_running_loop().create_future()
        self._waiting.append((changes, written))
        self._rows += len(changes)
        if self._rows >= MAX_ROWS:
            self._full.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        await written

    async def flush(self) -> None:
        """Writes whatever waits now (a stop): the sends are done, their outcomes must stay."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        while self._waiting:
            await self._write_next()

    async def _drain(self) -> None:
        while self._waiting:
            if self._rows < MAX_ROWS:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), WINDOW_S)
            await self._write_next()

    async def _write_next(self) -> None:
        count = taken = 0
        for changes, _ in self._waiting:  # at least one group, then up to MAX_ROWS rows
            if count and taken + len(changes) > MAX_ROWS:
                break
            count, taken = count + 1, taken + len(changes)
        batch = self._waiting[:count]
        del self._waiting[:count]
        self._rows -= taken
        changes = [change for group, _ in batch for change in group]
        try:
            await self._write(changes)
        except Exception as error:  # each sender logs it; the rows are taken up after the lease
            for _, written in batch:
                if not written.done():
                    written.set_exception(error)
            return
        for _, written in batch:
            if not written.done():
                written.set_result(None)
        self.on_change({change.alarm_id for change in changes})

    async def _write(self, changes: list[Change]) -> None:
        params = [
            {
                "b_id": c.row_id,
                "b_state": c.state.value,
                "b_due_at": c.due_at,
                "b_sent_at": c.sent_at,
                "b_reference": c.reference,
                "b_last_error": c.last_error,
            }
            for c in changes
        ]
        async with self._db.write() as session:
            await session.execute(_WRITE, params)
        self.batches += 1
