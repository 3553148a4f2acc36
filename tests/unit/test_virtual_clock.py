"""The virtual clock the keepalive tests run on: callbacks in time order, at their time."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.virtual_clock import VirtualClock


class RunLog:
    """Which callbacks ran, each with the time it read."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.ran: list[tuple[str, float]] = []

    def callback(self, name: str) -> Callable[[], None]:
        return lambda: self.ran.append((name, self.clock.time()))


def test_callbacks_run_in_time_order_reading_their_own_time() -> None:
    clock = VirtualClock(start=10.0)
    log = RunLog(clock)
    clock.call_at(12.0, log.callback("late"))
    clock.call_later(1.0, log.callback("early"))
    clock.call_at(12.0, log.callback("late, scheduled second"))
    clock.advance(1.5)
    assert log.ran == [("early", 11.0)]
    assert clock.time() == 11.5
    clock.run_until(20.0)
    assert log.ran == [("early", 11.0), ("late", 12.0), ("late, scheduled second", 12.0)]
    assert clock.time() == 20.0


def test_a_cancelled_timer_does_not_run_and_is_not_pending() -> None:
    clock = VirtualClock(start=0.0)
    log = RunLog(clock)
    timer = clock.call_later(1.0, log.callback("cancelled"))
    clock.call_later(2.0, log.callback("kept"))
    assert clock.pending == 2
    timer.cancel()
    assert clock.pending == 1
    clock.advance(5.0)
    assert log.ran == [("kept", 2.0)]
    assert clock.pending == 0


def test_what_a_callback_schedules_runs_in_the_same_advance_if_due() -> None:
    clock = VirtualClock(start=0.0)
    ticks: list[float] = []

    def tick() -> None:
        ticks.append(clock.time())
        clock.call_later(0.25, tick)

    clock.call_later(0.25, tick)
    clock.advance(1.0)
    assert ticks == [0.25, 0.5, 0.75, 1.0]
    assert clock.pending == 1  # the one at 1.25


def test_a_callback_scheduled_in_the_past_runs_now_and_time_does_not_go_back() -> None:
    clock = VirtualClock(start=5.0)
    log = RunLog(clock)
    clock.call_at(3.0, log.callback("past"))
    clock.advance(0)
    assert log.ran == [("past", 5.0)]
    with pytest.raises(ValueError, match="time runs forward"):
        clock.run_until(4.0)


def test_a_stall_runs_nothing_then_everything_overdue_at_the_time_it_ended() -> None:
    clock = VirtualClock(start=0.0)
    log = RunLog(clock)
    clock.call_at(1.0, log.callback("first"))
    clock.call_at(2.0, log.callback("second"))
    clock.call_at(9.0, log.callback("after"))
    clock.stall(5.0)
    assert log.ran == []
    assert clock.time() == 5.0
    clock.advance(0)
    assert log.ran == [("first", 5.0), ("second", 5.0)]
    clock.advance(5.0)
    assert log.ran[-1] == ("after", 9.0)
