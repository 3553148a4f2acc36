"""The self-test schedule and verdict, driven by a fake clock (the real one is time.monotonic)."""

from __future__ import annotations

import uuid

import pytest

from agent.config import ConfigError, parse_config
from agent.selftest import RETRY_AFTER_FAILURE, Result, SelfTest

DAY = 24 * 3600.0


class Clock:
    """Stands in for time.monotonic so a test can move a day ahead at once."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self, interval: float = DAY, timeout: float = 10.0) -> None:
        self.clock = Clock()
        self.sent: list[uuid.UUID] = []
        self.results: list[bool] = []
        self.test = SelfTest(
            send=self._send,
            clock=self.clock,
            interval=interval,
            timeout=timeout,
            on_result=self.results.append,
        )

    def _send(self) -> uuid.UUID:
        alarm_id = uuid.uuid4()
        self.sent.append(alarm_id)
        return alarm_id

    def advance(self, seconds: float) -> float | None:
        self.clock.now += seconds
        return self.test.poll()

    def answer(self) -> None:
        self.test.stored(self.sent[-1])
        self.test.echoed(self.sent[-1])


def test_nothing_runs_before_the_first_connect() -> None:
    h = Harness()
    assert h.test.poll() is None
    assert h.advance(DAY * 3) is None
    assert h.sent == []
    assert h.test.result is Result.UNKNOWN
    assert not h.test.failed


def test_first_connect_starts_a_test_and_a_pass_schedules_the_next_in_a_day() -> None:
    h = Harness()
    wait = h.test.link_changed(True)
    assert len(h.sent) == 1
    assert wait == pytest.approx(10.0)  # wake at the deadline
    h.test.echoed(h.sent[0])  # the echo may overtake alarm_stored: order does not matter
    assert h.results == []
    wait = h.test.stored(h.sent[0])
    assert h.results == [True]
    assert h.test.result is Result.PASSED
    assert wait == pytest.approx(DAY)
    assert h.advance(DAY - 1) == pytest.approx(1)
    assert len(h.sent) == 1
    h.advance(1)
    assert len(h.sent) == 2  # the daily test
    # A reconnect is not a "start": no extra test.
    h.answer()
    h.test.link_changed(False)
    h.test.link_changed(True)
    assert len(h.sent) == 2


def test_missing_echo_fails_at_the_timeout_and_is_retried_after_a_minute() -> None:
    h = Harness()
    h.test.link_changed(True)
    h.test.stored(h.sent[0])  # stored, but the echo never comes
    assert h.advance(9.9) == pytest.approx(0.1)
    assert h.results == []
    assert h.advance(0.1) == pytest.approx(RETRY_AFTER_FAILURE)
    assert h.results == [False]
    assert h.test.failed
    h.advance(RETRY_AFTER_FAILURE - 0.5)
    assert len(h.sent) == 1
    h.advance(0.5)
    assert len(h.sent) == 2  # the retry
    h.answer()
    assert h.results == [False, True]
    assert not h.test.failed
    assert h.test.poll() == pytest.approx(DAY)  # back to the daily rhythm


def test_missing_stored_fails_too_and_late_answers_do_not_count() -> None:
    h = Harness()
    h.test.link_changed(True)
    first = h.sent[0]
    h.test.echoed(first)
    h.advance(10.0)
    assert h.results == [False]
    h.test.stored(first)  # too late: that test has failed
    assert h.results == [False]
    assert h.test.failed


def test_other_alarms_do_not_count() -> None:
    h = Harness()
    h.test.link_changed(True)
    other = uuid.uuid4()
    h.test.stored(other)
    h.test.echoed(other)
    h.advance(10.0)
    assert h.results == [False]


def test_a_test_due_while_offline_waits_for_the_link() -> None:
    h = Harness()
    h.test.link_changed(True)
    h.answer()
    assert h.test.link_changed(False) is None  # nothing to wake for until the link is back
    h.advance(DAY * 2)
    assert len(h.sent) == 1
    h.test.link_changed(True)
    assert len(h.sent) == 2


def test_run_now_starts_at_once_but_never_two_at_a_time() -> None:
    h = Harness()
    h.test.link_changed(True)
    h.answer()
    h.test.run_now()
    assert len(h.sent) == 2
    h.test.run_now()  # one is running: no second
    assert len(h.sent) == 2
    h.answer()
    assert h.results == [True, True]


def test_run_now_offline_runs_once_connected() -> None:
    h = Harness()
    h.test.run_now()
    assert h.sent == []
    h.test.link_changed(True)
    assert len(h.sent) == 1


def test_interval_zero_turns_the_timer_off_but_run_now_works() -> None:
    h = Harness(interval=0)
    h.test.link_changed(True)
    assert h.sent == []
    assert h.advance(DAY * 10) is None
    h.test.run_now()
    assert len(h.sent) == 1
    h.answer()
    assert h.test.poll() is None


def test_config_keys_and_defaults() -> None:
    base = {"hub_urls": ["ws://127.0.0.1:1/ws/agent"], "workstation_id": "pc", "token": "t"}
    config = parse_config(base)
    assert (config.self_test_interval_h, config.self_test_timeout_s) == (24.0, 10.0)
    config = parse_config({**base, "self_test_interval_h": 0.5, "self_test_timeout_s": 3})
    assert (config.self_test_interval_h, config.self_test_timeout_s) == (0.5, 3.0)


@pytest.mark.parametrize(
    ("key", "value"), [("self_test_interval_h", -1), ("self_test_timeout_s", 0)]
)
def test_bad_config_values_name_their_key(key: str, value: float) -> None:
    base = {"hub_urls": ["ws://127.0.0.1:1/ws/agent"], "workstation_id": "pc", "token": "t"}
    with pytest.raises(ConfigError, match=key):
        parse_config({**base, key: value})


def test_a_dead_hotkey_or_missing_tray_fails_the_self_test_although_the_hub_answered() -> None:
    problems: list[str] = ["hotkey not listening"]
    h = Harness()
    h.test = SelfTest(
        send=h._send,
        clock=h.clock,
        interval=DAY,
        timeout=10.0,
        on_result=h.results.append,
        local_check=lambda: list(problems),
    )
    h.test.link_changed(True)
    h.answer()
    assert h.results == [False]
    assert h.test.failed
    assert h.advance(RETRY_AFTER_FAILURE) is not None  # retried like any failed test
    problems.clear()
    h.answer()
    assert h.results == [False, True]
    assert h.test.result is Result.PASSED
