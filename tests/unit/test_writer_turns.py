"""The single writer's turns: one at a time, alarms ahead of the queue, cancellation safe."""

from __future__ import annotations

import asyncio

from dispatch.store.writer_turns import WriterTurns


async def _write(turns: WriterTurns, name: str, order: list[str], *, urgent: bool = False) -> None:
    async with turns.turn(urgent=urgent):
        order.append(f"{name} in")
        await asyncio.sleep(0)  # a write yields to the loop while the database works
        order.append(f"{name} out")


async def _queue(turns: WriterTurns, order: list[str], *writes: tuple[str, bool]) -> None:
    """The writes of ``writes`` wait, in that order, while a first write holds the turn."""
    release = asyncio.Event()

    async def holder() -> None:
        async with turns.turn():
            order.append("holder")
            await release.wait()

    tasks = [asyncio.create_task(holder())]
    await asyncio.sleep(0)
    for name, urgent in writes:
        tasks.append(asyncio.create_task(_write(turns, name, order, urgent=urgent)))
        await asyncio.sleep(0)  # queued in this order
    release.set()
    await asyncio.gather(*tasks)


def _turns_taken(order: list[str]) -> list[str]:
    return [step.removesuffix(" in") for step in order if step.endswith(" in")]


async def test_writes_never_overlap() -> None:
    turns, order = WriterTurns(), list[str]()
    await asyncio.gather(*(_write(turns, str(i), order) for i in range(5)))
    assert order == [f"{i} {step}" for i in range(5) for step in ("in", "out")]


async def test_an_urgent_write_goes_ahead_of_ordinary_ones_waiting() -> None:
    turns, order = WriterTurns(), list[str]()
    await _queue(turns, order, ("receipts", False), ("seen", False), ("alarm", True))
    assert _turns_taken(order) == ["alarm", "receipts", "seen"]


async def test_urgent_writes_keep_their_order_and_so_do_ordinary_ones() -> None:
    turns, order = WriterTurns(), list[str]()
    await _queue(turns, order, ("o1", False), ("u1", True), ("o2", False), ("u2", True))
    assert _turns_taken(order) == ["u1", "u2", "o1", "o2"]


async def test_a_cancelled_waiter_does_not_hold_up_the_others() -> None:
    turns, order = WriterTurns(), list[str]()
    release = asyncio.Event()

    async def holder() -> None:
        async with turns.turn():
            await release.wait()

    held = asyncio.create_task(holder())
    await asyncio.sleep(0)
    gone = asyncio.create_task(_write(turns, "gone", order, urgent=True))
    after = asyncio.create_task(_write(turns, "after", order))
    await asyncio.sleep(0)
    gone.cancel()
    release.set()
    await asyncio.wait_for(asyncio.gather(held, after), 1)
    assert order == ["after in", "after out"]
    assert gone.cancelled()


async def test_a_waiter_cancelled_as_it_is_handed_the_turn_passes_it_on() -> None:
    turns, order = WriterTurns(), list[str]()
    release = asyncio.Event()
    unlucky: asyncio.Task[None] | None = None

    async def holder() -> None:
        async with turns.turn():
            await release.wait()
        assert unlucky is not None
        unlucky.cancel()  # the turn was handed to it just now; it has not run yet

    held = asyncio.create_task(holder())
    await asyncio.sleep(0)
    unlucky = asyncio.create_task(_write(turns, "unlucky", order))
    after = asyncio.create_task(_write(turns, "after", order))
    await asyncio.sleep(0)
    release.set()
    await asyncio.wait_for(asyncio.gather(held, after), 1)
    assert unlucky.cancelled()
    assert order == ["after in", "after out"]
    # The writer is free again: a new write gets its turn at once.
    await asyncio.wait_for(_write(turns, "new", order), 1)
