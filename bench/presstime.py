"""Press-to-screen times on the one wall clock that the bench, the agents and Chromium share.

``bench.hotkey`` takes the press with the host's ``time.time()``, the neighbour's popup
from the agent's log (wall clock, to the millisecond) and the console's row with
``performance.timeOrigin + performance.now()`` in the page. All three run on this
machine, so they read the same system clock; Chromium's ``timeOrigin`` is that clock at
the page's start and ``performance.now()`` a monotonic clock after it, so the page's
reading drifts from the host's only if the system clock is slewed meanwhile.
``ClockCheck`` measures that difference before each press, so a run shows it rather
than hiding it in the figures.
"""

from __future__ import annotations

from dataclasses import dataclass


def ms_after(pressed_s: float, at_epoch_ms: float) -> float:
    """Milliseconds from the press (host ``time.time()``, seconds) to a page stamp (ms)."""
    return at_epoch_ms - pressed_s * 1000


DATE_NOW_STEP_MS = 1.0  # Date.now() counts whole milliseconds


@dataclass(frozen=True)
class ClockCheck:
    """The page's clock against the host's and against the page's own ``Date.now()``.

    ``offset_ms``: the page's ``performance.timeOrigin + performance.now()`` minus the
    host's ``time.time()``. The page read its clock somewhere between the host's two
    readings; the midpoint is the best guess, and half the round trip (``uncertainty_ms``,
    Playwright's trip through its driver and the DevTools protocol) bounds its error.
    ``drift_ms``: the same page clock minus ``Date.now()``, read together in the page,
    so without a round trip: ``Date.now()`` is the system clock that ``time.time()``
    reads, so this shows to a millisecond whether the page's stamps are on it.
    """

    offset_ms: float
    uncertainty_ms: float
    drift_ms: float

    @classmethod
    def of(
        cls, host_before_s: float, page_ms: float, page_date_ms: float, host_after_s: float
    ) -> ClockCheck:
        if host_after_s < host_before_s:
            raise ValueError("the host's second reading is earlier than its first")
        midpoint_ms = (host_before_s + host_after_s) * 500
        return cls(
            page_ms - midpoint_ms, (host_after_s - host_before_s) * 500, page_ms - page_date_ms
        )

    def within(self, tolerance_ms: float) -> bool:
        """True if the page's clock agrees with the system clock to ``tolerance_ms``, beyond
        what each reading cannot resolve (the round trip, Date.now()'s whole milliseconds)."""
        return (
            abs(self.offset_ms) <= tolerance_ms + self.uncertainty_ms
            and abs(self.drift_ms) <= tolerance_ms + DATE_NOW_STEP_MS
        )


def tightest(checks: list[ClockCheck]) -> ClockCheck | None:
    """The check with the shortest round trip, whose offset from the host says the most
    (None if none): on a busy machine one trip can take tens of milliseconds."""
    return min(checks, key=lambda check: check.uncertainty_ms, default=None)


def worst_drift(checks: list[ClockCheck]) -> ClockCheck | None:
    """The check with the largest drift from ``Date.now()`` either way (None if none)."""
    return max(checks, key=lambda check: abs(check.drift_ms), default=None)
