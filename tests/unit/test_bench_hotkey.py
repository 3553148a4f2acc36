"""bench.hotkey's command line and the lines it ends with (the run itself needs X and Chromium)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.guardconsole import ROW, STAMP_ROWS
from bench.hotkey import Figures, parse_args
from bench.presstime import ClockCheck

CONSOLE_HTML = Path(__file__).resolve().parents[2] / "dispatch/web/console/templates/console.html"


def test_the_console_is_timed_only_when_asked() -> None:
    assert parse_args([]).console is False
    args = parse_args(["--presses", "100", "--console", "--spacing", "0.5"])
    assert (args.presses, args.console, args.spacing) == (100, True, 0.5)


@pytest.mark.parametrize("argv", [["--presses", "0"], ["--spacing", "-1"]])
def test_impossible_runs_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)


def test_without_the_console_only_the_popup_is_summarised() -> None:
    lines = Figures(popup_ms=[30.0, 40.0]).lines()
    assert lines == [
        "hotkey -> neighbour's popup: n=2 p50=30.00ms p90=40.00ms p99=40.00ms max=40.00ms"
    ]


def test_with_the_console_both_are_summarised_with_the_clock_check() -> None:
    figures = Figures(
        popup_ms=[30.0, 40.0, 50.0],
        console_ms=[60.0, 90.0, 300.0],
        clocks=[ClockCheck(0.4, 1.0, 0.3), ClockCheck(-0.9, 0.5, -0.1)],
    )
    lines = figures.lines()
    assert lines[1] == (
        "hotkey -> guard console row: n=3 p50=90.00ms p90=300.00ms p99=300.00ms max=300.00ms"
    )
    assert lines[2] == (
        "page clock vs host time.time(): -0.90 ms (+-0.50 ms, the shortest of 2 round trips); "
        "vs the page's Date.now(): worst +0.30 ms"
    )


def test_a_page_clock_off_by_more_than_the_tolerance_is_said_to_carry_into_the_figures() -> None:
    figures = Figures(popup_ms=[30.0], console_ms=[60.0], clocks=[ClockCheck(7.0, 1.0, 0.0)])
    assert figures.lines()[2].endswith("(off: the console figures carry that error)")


def test_what_the_console_page_reported_is_printed() -> None:
    lines = Figures(popup_ms=[30.0], page_errors=["uncaught: TypeError"]).lines()
    assert lines[-1] == "console page reported: uncaught: TypeError"


def test_the_observer_watches_the_row_the_console_renders() -> None:
    """The stamped selector is the alarm row of console.html, which carries the alarm id."""
    assert "__ROW__" not in STAMP_ROWS
    assert f"const ROW = {json.dumps(ROW)};" in STAMP_ROWS
    rows = re.findall(r"<li[^>]*>", CONSOLE_HTML.read_text(encoding="utf-8"), re.DOTALL)
    row = next(tag for tag in rows if 'data-testid="alarm-row"' in tag)
    assert ':data-alarm-id="alarm.alarm_id"' in row
