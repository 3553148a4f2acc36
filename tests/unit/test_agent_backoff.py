"""Reconnect delays stay within 0.5–4 s, grow, are jittered, reset, and follow a Retry-After."""

from __future__ import annotations

import random

import pytest

from agent.backoff import Backoff, retry_after_seconds


def test_delays_stay_within_floor_and_cap() -> None:
    backoff = Backoff(rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(500)]
    assert min(delays) >= 0.5
    assert max(delays) <= 4.0
    # After enough failures the window is the whole 0.5–4 s range (full jitter).
    late = delays[10:]
    assert max(late) > 3.8
    assert min(late) < 0.7


def test_a_hub_down_for_long_is_still_retried_within_4_s() -> None:
    """A recipient is back within 5 s of its hub, however long the hub was away (GOALS.md)."""
    backoff = Backoff(rng=random.Random(11))
    total = 0.0
    while total < 3600.0:  # an hour of retries against a hub that stays down
        delay = backoff.next_delay()
        assert delay <= 4.0
        total += delay


def test_window_grows_then_reset_starts_over() -> None:
    backoff = Backoff(rng=random.Random(1))
    first = [backoff.next_delay() for _ in range(3)]
    assert first[0] <= 1.0  # attempt 0: at most base
    assert all(d <= 4.0 for d in first)
    for _ in range(20):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_huge_attempt_counts_do_not_overflow() -> None:
    backoff = Backoff(attempt=10_000)
    assert 0.5 <= backoff.next_delay() <= 4.0


def test_a_busy_hubs_retry_after_is_waited_with_a_second_of_jitter_and_no_growth() -> None:
    backoff = Backoff(rng=random.Random(3), attempt=3)
    delays = [backoff.retry_after(4.0) for _ in range(500)]
    assert min(delays) >= 4.0
    assert max(delays) < 5.0
    assert max(delays) - min(delays) > 0.8  # spread over the second, not one instant
    assert backoff.attempt == 3  # the hub answered: the backoff does not grow
    backoff.next_delay()  # another kind of failure still does
    assert backoff.attempt == 4


def test_retry_after_is_followed_beyond_the_backoff_cap_up_to_20_s_and_not_floored() -> None:
    backoff = Backoff(floor=15.0, rng=random.Random(5))
    assert all(10.0 <= backoff.retry_after(10.0) < 11.0 for _ in range(100))  # above cap=4
    assert all(backoff.retry_after(300.0) <= 20.0 for _ in range(100))
    assert all(1.0 <= backoff.retry_after(1.0) < 2.0 for _ in range(100))
    assert all(0.0 <= backoff.retry_after(0.0) < 1.0 for _ in range(100))


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), (" 12 ", 12.0), ("0", 0.0), (None, None), ("", None), ("-3", None),
     ("1.5", None), ("Wed, 21 Oct 2026 07:28:00 GMT", None), ("٣", None)],
)  # fmt: skip
def test_retry_after_header_in_seconds_only(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header) == seconds
