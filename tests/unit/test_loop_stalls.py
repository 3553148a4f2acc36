"""The hub's notice of its own stalls (dispatch/runtime/loop_stalls.py)."""

from __future__ import annotations

import math

from dispatch.runtime.loop_stalls import StallWatch


def test_a_timer_late_by_more_than_the_tolerance_marks_a_stall_and_its_end() -> None:
    stalls = StallWatch(tolerance=0.5)
    assert stalls.resumed_at == -math.inf
    assert not stalls.fired(due=100.0, now=100.5)  # a busy loop, not a stall
    assert stalls.silent_since(90.0) == 90.0
    assert stalls.fired(due=100.0, now=104.0)
    assert stalls.resumed_at == 104.0
    # Silence counts from the resume: what a peer sent meanwhile may be unread.
    assert stalls.silent_since(90.0) == 104.0
    assert stalls.silent_since(105.0) == 105.0  # heard since: that counts


def test_an_older_timer_noticing_the_same_stall_later_does_not_move_the_resume_back() -> None:
    stalls = StallWatch(tolerance=0.5)
    assert stalls.fired(due=100.0, now=104.0)
    assert stalls.fired(due=99.0, now=103.9)  # measured a moment earlier on another clock read
    assert stalls.resumed_at == 104.0
