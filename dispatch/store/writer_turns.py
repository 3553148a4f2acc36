"""Whose turn it is to write: one writer at a time, and an alarm goes ahead of the queue.

The hub's bookkeeping writes (receipts, last-seen, self-test expiry, logins)
pile up in a restart storm: each takes a few hundred milliseconds while the
event loop is busy with handshakes, and a new alarm queued behind three of
them waited a second before its own transaction began. Urgent turns (a new
alarm's group commit) are handed out before any waiting ordinary turn, so an
alarm waits at most for the one write running now. Among themselves, urgent
and ordinary turns each keep their order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class WriterTurns:
    def __init__(self) -> None:
        self._busy = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._ordinary: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Writes waiting for their turn (not counting the one running)."""
        return sum(not granted.done() for granted in (*self._urgent, *self._ordinary))

    @asynccontextmanager
    async def turn(self, *, urgent: bool = False) -> AsyncIterator[None]:
        """Holds the turn for the ``async with`` block; ``urgent`` ones are served first."""
        await self._acquire(urgent)
        try:
            yield
        finally:
            self._hand_over()

    async def _acquire(self, urgent: bool) -> None:
        if not self._busy:
            self._busy = True
            return
        granted = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._ordinary).append(granted)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._hand_over()  # handed the turn just as it was cancelled: pass it on
            raise

    def _hand_over(self) -> None:
        """The next waiter gets the turn (it stays busy), or the writer is free."""
        for queue in (self._urgent, self._ordinary):
            while queue:
                granted = queue.popleft()
                if not granted.done():  # a cancelled waiter's future is done already
                    granted.set_result(None)
                    return
        self._busy = False
