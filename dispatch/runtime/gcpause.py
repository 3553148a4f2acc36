"""Garbage-collector pauses: rarer full collections, and a log line for every long pause.

A full (generation 2) collection walks every live object: with ten thousand
connections that is millions, and the event loop stands still meanwhile. An
alarm to all of them allocates enough to trigger one every few seconds at
Python's default thresholds; each stood still for 0.7-1 s on the bench machine
(docs/performance.md). Full collections are made 100 times rarer; reference
counting still frees almost everything at once, so only cyclic garbage waits
longer. The log line shows whether a slow alarm met a pause.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Iterator
from typing import Any

import structlog

log = structlog.get_logger(__name__)

REPORT_ABOVE_S = 0.02
FULL_COLLECTION_EVERY = 1000
"""Generation-1 collections between full ones (Python's default: 10)."""

_started: float | None = None


def _callback(phase: str, info: dict[str, Any]) -> None:
    global _started
    if phase == "start":
        _started = time.perf_counter()
    elif _started is not None:
        paused = time.perf_counter() - _started
        _started = None
        if paused >= REPORT_ABOVE_S:
            log.warning(
                "gc_pause",
                ms=round(paused * 1000, 1),
                generation=info.get("generation"),
                collected=info.get("collected"),
            )


def configure() -> None:
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)
    if _callback not in gc.callbacks:
        gc.callbacks.append(_callback)


@contextlib.contextmanager
def imports_without_collections() -> Iterator[None]:
    """Start-up imports with the collector off, their objects frozen afterwards.

    The hub's imports make ~185,000 objects that live as long as the process; at the
    default thresholds the collector walked them three times over in full while they
    were made, finding nothing to free (~0.3 s of the ~1.3 s of CPU the imports take).
    ``gc.freeze`` then moves them out of every later collection, which also shortens
    each full collection while the hub serves.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
