"""Bounded polling: tests wait for a condition with a hard limit, never sleep and hope."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Deadline:
    """The hard limit of one wait."""

    def __init__(self, timeout: float, what: str) -> None:
        self.timeout = timeout
        self.what = what
        self._end = time.monotonic() + timeout

    def check(self) -> None:
        """TimeoutError once the limit has passed."""
        if time.monotonic() > self._end:
            raise TimeoutError(f"{self.what} not met within {self.timeout} s")


def wait_until(
    probe: Callable[[], T | None],
    timeout: float = 5.0,
    interval: float = 0.01,
    what: str = "condition",
) -> T:
    """Call probe until it returns something truthy and return that; TimeoutError after timeout."""
    deadline = Deadline(timeout, what)
    while not (result := probe()):
        deadline.check()
        time.sleep(interval)
    return result


async def until(
    probe: Callable[[], T | None],
    timeout: float = 5.0,
    interval: float = 0.01,
    what: str = "condition",
) -> T:
    """wait_until for a test running on the event loop: the loop keeps running meanwhile."""
    deadline = Deadline(timeout, what)
    while not (result := probe()):
        deadline.check()
        await asyncio.sleep(interval)
    return result
