"""The raiser's deadlines are kept on time: `call_after` never fires early (offscreen Qt).

Qt's default coarse timers fire up to 5 % early now and then, to share a wake-up with
other timers: one in ten 3 s deadlines was checked up to 150 ms too soon, and the raiser
never learned the alarm was not delivered. Forty timers started 37 ms apart cover the
phases of the second at which a coarse timer is moved earlier.
"""

from __future__ import annotations

import time

from pytestqt.qtbot import QtBot

from agent.deadline_timer import call_after

TIMERS = 40
SECONDS = 1.0


def test_no_deadline_timer_fires_before_its_time(qtbot: QtBot) -> None:
    fired: list[float] = []

    def start() -> None:
        at = time.monotonic()
        call_after(SECONDS, lambda: fired.append(time.monotonic() - at))

    for n in range(TIMERS):
        call_after(n * 0.037, start)
    qtbot.waitUntil(lambda: len(fired) == TIMERS, timeout=int((TIMERS * 0.037 + 5) * 1000))
    assert min(fired) >= SECONDS, sorted(fired)[:5]
