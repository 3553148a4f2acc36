"""Reconnect delays stay within 0.5–20 s, grow, are jittered, and reset."""

from __future__ import annotations

import random

from agent.backoff import Backoff


def test_delays_stay_within_floor_and_cap() -> None:
    backoff = Backoff(rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(500)]
    assert min(delays) >= 0.5
    assert max(delays) <= 20.0
    # After enough failures the window is the whole 0.5–20 s range (full jitter).
    late = delays[10:]
    assert max(late) > 15.0
    assert min(late) < 5.0


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
    assert 0.5 <= backoff.next_delay() <= 20.0
