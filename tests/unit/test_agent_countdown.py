"""The site's countdown before sending and the cancel window after storing (clock passed in)."""

from __future__ import annotations

import uuid

from agent.countdown import CANCEL_MARGIN, CancelWindows, Countdown, countdowns
from shared.domain import AlarmLevel, Trigger
from shared.protocol import LevelSettings

L1, L2, L3 = AlarmLevel.SUPPORT, AlarmLevel.THREAT, AlarmLevel.DANGER


def test_levels_from_the_welcome() -> None:
    levels = [LevelSettings(level=L1, countdown_s=3), LevelSettings(level=L3, cancel_window_s=15)]
    assert countdowns(levels) == {L1: 3, L3: 0}
    assert countdowns([]) == {}


def test_no_countdown_sends_at_once() -> None:
    countdown = Countdown()
    assert countdown.press(L2, Trigger.HOTKEY, 0, now=100.0) == (L2, Trigger.HOTKEY)
    assert countdown.pending is None
    assert countdown.remaining(100.0) == 0


def test_countdown_runs_out_and_sends_once() -> None:
    countdown = Countdown()
    assert countdown.press(L2, Trigger.TRAY, 5, now=100.0) is None
    assert countdown.remaining(100.0) == 5
    assert countdown.remaining(100.1) == 5  # whole seconds, rounded up
    assert countdown.remaining(104.5) == 1
    assert countdown.due(104.9) is None
    assert countdown.due(105.0) == (L2, Trigger.TRAY)
    assert countdown.due(106.0) is None  # once
    assert countdown.pending is None


def test_cancel_sends_nothing() -> None:
    countdown = Countdown()
    countdown.press(L3, Trigger.HOTKEY, 3, now=0.0)
    dropped = countdown.cancel()
    assert dropped is not None
    assert dropped.level is L3
    assert countdown.due(10.0) is None
    assert countdown.cancel() is None


def test_a_second_press_sends_at_once_at_the_higher_level() -> None:
    countdown = Countdown()
    countdown.press(L2, Trigger.HOTKEY, 5, now=0.0)
    assert countdown.press(L3, Trigger.HOTKEY, 5, now=1.0) == (L3, Trigger.HOTKEY)
    assert countdown.pending is None
    countdown.press(L3, Trigger.TRAY, 5, now=2.0)
    assert countdown.press(L1, Trigger.HOTKEY, 0, now=3.0) == (L3, Trigger.TRAY)


def test_cancel_window_opens_counts_down_and_closes() -> None:
    windows = CancelWindows()
    alarm = uuid.uuid4()
    assert windows.stored(alarm, 15, now=0.0)
    left = 15 - CANCEL_MARGIN
    assert windows.open(0.0) == [(alarm, left)]
    assert windows.open(left - 0.5) == [(alarm, 1)]
    assert windows.open(left) == []
    assert not windows.take(alarm, left)  # too late: nothing is sent
    assert not windows.stored(alarm, 15, now=left)  # a re-sent AlarmStored never reopens it


def test_take_within_the_window_closes_it() -> None:
    windows = CancelWindows()
    alarm = uuid.uuid4()
    windows.stored(alarm, 30, now=0.0)
    assert windows.take(alarm, 10.0)
    assert windows.open(10.0) == []
    assert not windows.take(alarm, 10.0)  # twice is once


def test_no_window_without_policy_and_closed_by_resolve() -> None:
    windows = CancelWindows()
    assert not windows.stored(uuid.uuid4(), 0, now=0.0)
    assert not windows.stored(uuid.uuid4(), 1, now=0.0)  # shorter than the safety margin
    first, second = uuid.uuid4(), uuid.uuid4()
    windows.stored(first, 30, now=0.0)
    windows.stored(second, 30, now=1.0)
    assert [a for a, _ in windows.open(2.0)] == [first, second]  # newest last
    windows.close(first)  # resolved or cancelled at the hub
    assert [a for a, _ in windows.open(2.0)] == [second]
