"""Lookups that arrive while a load runs share the next load; failures reach every waiter.

Under a stream of loads, the next one lingers for more keys; after a quiet spell a
lookup is loaded at once.
"""

from __future__ import annotations

import asyncio

import pytest

from dispatch.store.coalesce import Coalescer


class Loads:
    """A loader that records its batches and waits for the test to let each one finish."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        self.fail = fail

    async def __call__(self, keys: list[str]) -> dict[str, str]:
        self.batches.append(keys)
        await self.release.wait()
        if self.fail:
            raise RuntimeError("database gone")
        return {key: key.upper() for key in keys if key != "missing"}


async def test_keys_asked_during_a_load_share_the_next_one() -> None:
    loads = Loads()
    coalescer = Coalescer(loads, name="test")
    first = asyncio.create_task(coalescer.get("a"))
    await asyncio.sleep(0)  # the first load starts with "a" alone
    rest = [asyncio.create_task(coalescer.get(k)) for k in ("b", "c", "b", "missing")]
    await asyncio.sleep(0)
    loads.release.set()
    assert await first == "A"
    assert [await t for t in rest] == ["B", "C", "B", None]
    assert loads.batches == [["a"], ["b", "c", "missing"]]


async def test_a_batch_is_bounded() -> None:
    loads = Loads()
    loads.release.set()
    coalescer = Coalescer(loads, name="test", max_batch=2)
    assert await asyncio.gather(*(coalescer.get(k) for k in "abcde")) == list("ABCDE")
    assert max(len(batch) for batch in loads.batches) == 2


async def test_a_failed_load_fails_every_waiter_and_the_next_get_loads_again() -> None:
    loads = Loads(fail=True)
    loads.release.set()
    coalescer = Coalescer(loads, name="test")
    results = await asyncio.gather(coalescer.get("a"), coalescer.get("b"), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    loads.fail = False
    assert await coalescer.get("a") == "A"


async def test_waiters_are_cancelled_when_the_loader_is() -> None:
    loads = Loads()
    coalescer = Coalescer(loads, name="test")
    waiter = asyncio.create_task(coalescer.get("a"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    (loader,) = [t for t in asyncio.all_tasks() if t.get_name() == "test"]
    loader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter


class Instant:
    """A loader that answers at once and records its batches."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    async def __call__(self, keys: list[str]) -> dict[str, str]:
        self.batches.append(keys)
        return {key: key.upper() for key in keys}


async def test_lookups_following_a_load_within_the_linger_share_one_load() -> None:
    """A storm's agents arrive a few milliseconds apart, never during the short load."""
    loads = Instant()
    coalescer = Coalescer(loads, name="test", linger=0.3)
    assert await coalescer.get("a") == "A"
    later = []
    for key in "bcd":
        later.append(asyncio.create_task(coalescer.get(key)))
        await asyncio.sleep(0.01)
    assert [await asyncio.wait_for(t, 5) for t in later] == ["B", "C", "D"]
    assert loads.batches == [["a"], ["b", "c", "d"]]


async def test_a_lookup_after_a_quiet_spell_is_loaded_at_once() -> None:
    now = [1000.0]
    loads = Instant()
    coalescer = Coalescer(loads, name="test", linger=60.0, clock=lambda: now[0])
    assert await asyncio.wait_for(coalescer.get("a"), 5) == "A"  # the first: no linger
    now[0] += 61.0  # a quiet minute
    assert await asyncio.wait_for(coalescer.get("b"), 5) == "B"  # would wait 60 s if lingering
    assert loads.batches == [["a"], ["b"]]


async def test_loads_in_a_row_do_not_linger_while_linger_when_says_no() -> None:
    """A first start's agents come a few at a time: no wait that gathers nothing."""
    now = [1000.0]
    crowded = [False]
    loads = Instant()
    coalescer = Coalescer(
        loads, name="test", linger=60.0, linger_when=lambda: crowded[0], clock=lambda: now[0]
    )
    assert await asyncio.wait_for(coalescer.get("a"), 5) == "A"
    # Right after the first load (the clock stands still): would wait 60 s if lingering.
    assert await asyncio.wait_for(coalescer.get("b"), 5) == "B"
    assert loads.batches == [["a"], ["b"]]


async def test_loads_in_a_row_linger_while_linger_when_says_yes() -> None:
    """A storm (the gate full): the next load waits for more keys, as without the predicate."""
    loads = Instant()
    coalescer = Coalescer(loads, name="test", linger=0.3, linger_when=lambda: True)
    assert await coalescer.get("a") == "A"
    later = []
    for key in "bcd":
        later.append(asyncio.create_task(coalescer.get(key)))
        await asyncio.sleep(0.01)
    assert [await asyncio.wait_for(t, 5) for t in later] == ["B", "C", "D"]
    assert loads.batches == [["a"], ["b", "c", "d"]]
