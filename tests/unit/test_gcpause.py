"""Full collections are made rarer, and a pause long enough to delay an alarm is logged."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
import structlog

from dispatch.runtime import gcpause


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold, callbacks = gc.get_threshold(), list(gc.callbacks)
    yield
    gc.set_threshold(*threshold)
    gc.callbacks[:] = callbacks


def test_full_collections_are_a_hundred_times_rarer(restored_gc: None) -> None:
    young, middle, _ = gc.get_threshold()
    gcpause.configure()
    gcpause.configure()  # twice (tests start the app more than once): one callback
    assert gc.get_threshold() == (young, middle, 1000)
    assert gc.callbacks.count(gcpause._callback) == 1


def test_a_long_pause_is_logged_a_short_one_not(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([10.0, 10.005, 20.0, 20.9])  # stands in for time.perf_counter
    monkeypatch.setattr("dispatch.runtime.gcpause.time.perf_counter", lambda: next(clock))
    with structlog.testing.capture_logs() as logs:
        gcpause._callback("start", {"generation": 0})
        gcpause._callback("stop", {"generation": 0, "collected": 3})
        gcpause._callback("start", {"generation": 2})
        gcpause._callback("stop", {"generation": 2, "collected": 40})
    assert logs == [
        {"event": "gc_pause", "log_level": "warning", "ms": 900.0, "generation": 2, "collected": 40}
    ]


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the test process's objects back under the collector


@pytest.mark.parametrize("enabled", [True, False])
def test_start_up_imports_run_without_collections_and_stay_out_of_later_ones(
    unfrozen: None, enabled: bool
) -> None:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with gcpause.imports_without_collections():
            assert not gc.isenabled()
            made: list[list[int]] = [[] for _ in range(10)]  # as an import keeps objects
        assert gc.isenabled() is enabled  # as it was before
        collected = {id(o) for o in gc.get_objects()}  # every generation but the frozen
        assert gc.get_freeze_count() >= len(made)
        assert not any(id(o) in collected for o in made)
    finally:
        (gc.enable if was else gc.disable)()
