"""bench.hotkey's clock arithmetic: a page stamp after a press, the page-against-host check."""

from __future__ import annotations

import pytest

from bench.presstime import ClockCheck, ms_after, tightest, worst_drift


def test_a_page_stamp_is_measured_in_ms_from_the_press() -> None:
    pressed = 1_765_000_000.250  # host time.time(), seconds
    assert ms_after(pressed, 1_765_000_000_312.5) == pytest.approx(62.5)


def test_a_stamp_before_the_press_comes_out_negative_not_hidden() -> None:
    assert ms_after(100.0, 99_990.0) == pytest.approx(-10.0)


def test_the_clock_check_takes_the_round_trips_midpoint() -> None:
    check = ClockCheck.of(10.000, page_ms=10_003.5, page_date_ms=10_003.0, host_after_s=10.004)
    assert check.offset_ms == pytest.approx(1.5)  # page 10,003.5 against the midpoint 10,002
    assert check.uncertainty_ms == pytest.approx(2.0)
    assert check.drift_ms == pytest.approx(0.5)  # against the page's own Date.now()


def test_a_clock_check_with_the_host_readings_swapped_is_refused() -> None:
    with pytest.raises(ValueError, match="earlier"):
        ClockCheck.of(10.004, page_ms=10_002.0, page_date_ms=10_002.0, host_after_s=10.000)


@pytest.mark.parametrize(
    ("offset", "uncertainty", "drift", "agrees"),
    [
        (1.9, 0.0, 0.0, True),
        (-2.5, 0.0, 0.0, False),  # off the host's clock
        (-2.5, 1.0, 0.0, True),  # ... but within what the round trip can tell
        (8.0, 5.0, 0.0, False),
        (0.0, 0.0, 2.9, True),  # Date.now() counts whole milliseconds
        (0.0, 10.0, -3.5, False),  # the page's two clocks disagree, whatever the round trip
    ],
)
def test_agreement_allows_the_tolerance_plus_what_a_reading_cannot_resolve(
    offset: float, uncertainty: float, drift: float, agrees: bool
) -> None:
    assert ClockCheck(offset, uncertainty, drift).within(2.0) is agrees


def test_the_host_comparison_comes_from_the_shortest_round_trip() -> None:
    checks = [ClockCheck(0.5, 1.0, 0.2), ClockCheck(-30.0, 40.0, 0.1), ClockCheck(2.0, 0.3, -0.7)]
    assert tightest(checks) == checks[2]
    assert tightest([]) is None


def test_the_worst_drift_is_the_largest_either_way() -> None:
    checks = [ClockCheck(0.5, 1.0, 0.2), ClockCheck(-3.0, 0.2, 0.1), ClockCheck(2.0, 4.0, -0.7)]
    assert worst_drift(checks) == checks[2]
    assert worst_drift([]) is None
