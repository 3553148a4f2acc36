"""Many concurrent lookups by key answered by one batched load (a reconnect storm's reads).

While one load runs, new keys queue up; the next load takes all of them at
once. Alone, a lookup costs one load as before; under a storm of thousands
of handshakes, a few dozen loads serve them all, instead of thousands of
reads queued one by one on the database's single thread.

A load costs the hub's CPU about a millisecond however few keys it has, and
in a storm agents arrive spread out, a few per load. So while loads follow
each other (one ended less than ``linger`` ago), the next waits ``linger``
for more keys first. In a 10,000-agent restart storm the reads of each kind
fell from ~2,900 (3.5 agents each) to ~650 (about 15 each). A lookup after a
quiet spell is loaded at once.

Lingering only pays while more keys arrive whatever the hub answers: a storm,
thousands of agents at the door. A first start's agents come a few dozen at a
time, each next one only after an earlier one is in, so there the linger only
adds to every handshake (twice 20 ms, at 20 in flight a ceiling of ~500 a
second) and gathers no more keys. ``linger_when`` says which case it is (the
hub: its handshake gate is full or has a queue).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Generic, TypeVar

HANDSHAKE_LINGER_S = 0.02
"""The linger of the two reads every agent handshake makes (credentials, replay): in a
storm (the handshake gate full) each handshake waits up to 20 ms twice, against the
agent's 5 s timeout."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Coalescer(Generic[K, V]):
    def __init__(
        self,
        load: Callable[[list[K]], Awaitable[Mapping[K, V]]],
        *,
        name: str,
        max_batch: int = 500,
        linger: float = 0.0,
        linger_when: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._name = name
        self._max_batch = max_batch  # bounds the statement's IN list
        self._linger = linger
        self._linger_when = linger_when  # None: linger whenever loads follow each other
        self._clock = clock
        self._last_load_end = -math.inf
        self._waiting: dict[K, list[asyncio.Future[V | None]]] = {}
        self._loader: asyncio.Task[None] | None = None

    async def get(self, key: K) -> V | None:
        """The loaded value for ``key``, or None if the load did not return one."""
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        if self._loader is None:
            self._loader = asyncio.create_task(self._drain(), name=self._name)
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                if self._clock() - self._last_load_end < self._linger and (
                    self._linger_when is None or self._linger_when()
                ):
                    await asyncio.sleep(self._linger)  # loads in a row: gather more keys
                keys = list(self._waiting)[: self._max_batch]
                batch = {key: self._waiting.pop(key) for key in keys}
                try:
                    found = await self._load(keys)
                except BaseException as failed:  # every waiter hears of it; none hangs
                    if not isinstance(failed, Exception):
                        self._waiting.update(batch)  # cancelled: the finally cancels them
                        raise
                    for futures in batch.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(failed)
                    continue
                finally:
                    self._last_load_end = self._clock()
                for key, futures in batch.items():
                    for future in futures:
                        if not future.done():  # a waiter may have been cancelled
                            future.set_result(found.get(key))
        finally:
            self._loader = None
            # Cancelled (the hub stops): nobody may wait for an answer that never comes.
            for futures in self._waiting.values():
                for future in futures:
                    future.cancel()
            self._waiting.clear()
