"""The coverage board: each PC online/offline/self-test, live; gaps stand out in opening hours."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Locator, Page, expect

from shared.domain import AlarmKind, AlarmLevel, Trigger
from shared.protocol import AlarmNotify, RaiseAlarm, Receipt, utc_now
from tests.console.test_console_live import FAST_HUB, SCREENSHOT_DIR_ENV
from tests.support.browser import log_in
from tests.support.hub import RunningHub, start_demo_hub
from tests.support.syncclient import TestAgent

WEEKDAYS = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")


@pytest.fixture
def hub_open_all_day(tmp_path: Path) -> Iterator[RunningHub]:
    """Opening hours around the clock, so unprotected rooms must stand out now."""
    hub = start_demo_hub(tmp_path / "hub", env={**FAST_HUB, "SILENT_ALARM_OPENING_HOURS": ""})
    yield hub
    hub.stop()


@pytest.fixture
def hub_closed_today(tmp_path: Path) -> Iterator[RunningHub]:
    """Open only on another weekday than today (in Berlin), so the offices are closed now."""
    berlin_today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin"))
    other_day = WEEKDAYS[(berlin_today.weekday() + 3) % 7]
    hub = start_demo_hub(
        tmp_path / "hub",
        env={**FAST_HUB, "SILENT_ALARM_OPENING_HOURS": f"{other_day} 08:00-12:00"},
    )
    yield hub
    hub.stop()


def board_row(page: Page, number: str) -> Locator:
    return page.get_by_test_id("coverage-board").locator(f'[data-room-number="{number}"]')


def chip(page: Page, workstation_id: str) -> Locator:
    return page.get_by_test_id("coverage-board").locator(
        f'[data-workstation-id="{workstation_id}"]'
    )


def test_board_flips_a_pc_offline_when_its_agent_goes_and_marks_the_gap(
    hub_open_all_day: RunningHub, page: Page, tmp_path: Path
) -> None:
    hub = hub_open_all_day
    agents = [TestAgent(hub, ws) for ws in ("pc-e-01", "pc-1-01", "pc-1-02", "pc-1-04")]
    try:
        log_in(page, hub)
        expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "open")
        page.get_by_role("tab", name=re.compile("Abdeckung")).click()
        expect(page).to_have_url(re.compile(r"#coverage$"))
        board = page.get_by_test_id("coverage-board")
        expect(board).to_be_visible()
        expect(page.get_by_test_id("opening-state")).to_contain_text(
            "rund um die Uhr: jetzt geöffnet"
        )
        expect(page.get_by_test_id("coverage-summary")).to_contain_text("4 von 6 Räumen geschützt")
        expect(chip(page, "pc-1-02")).to_have_attribute("data-status", "online")
        expect(board_row(page, "1.02")).to_have_attribute("data-protected", "true")
        # Rooms without a working agent stand out (opening hours now): class, icon and text.
        gap = board_row(page, "1.03")
        expect(gap).to_have_attribute("data-protected", "false")
        expect(gap).to_have_class(re.compile(r"\bgap\b"))
        expect(gap.get_by_test_id("room-status")).to_have_text(re.compile(r"⚠\s*UNGESCHÜTZT"))
        assert gap.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(254, 226, 226)"
        expect(page.get_by_test_id("coverage-gaps")).to_have_text("2")

        # A self-test: the agent's echo comes back, the board shows it passed.
        self_test = uuid.uuid4()
        agents[3].send(
            RaiseAlarm(
                alarm_id=self_test,
                level=AlarmLevel.SUPPORT,
                trigger=Trigger.SCHEDULE,
                raised_at=utc_now(),
                kind=AlarmKind.SELF_TEST,
            )
        )
        agents[3].expect(AlarmNotify, lambda m: m.alarm_id == self_test)
        agents[3].send(Receipt(alarm_id=self_test))
        expect(chip(page, "pc-1-04")).to_contain_text(re.compile(r"Selbsttest OK \d\d:\d\d"))

        # The agent in 1.02 goes away: the hub tells the console, the room is a gap now.
        agents[2].close()
        expect(chip(page, "pc-1-02")).to_have_attribute("data-status", "offline", timeout=20_000)
        expect(chip(page, "pc-1-02").get_by_test_id("workstation-state")).to_have_text("offline")
        expect(board_row(page, "1.02")).to_have_class(re.compile(r"\bgap\b"))
        expect(page.get_by_test_id("coverage-summary")).to_contain_text("3 von 6 Räumen geschützt")
        expect(page.get_by_test_id("coverage-gaps")).to_have_text("3")

        # … and back: online again without reloading the page.
        agents[2] = TestAgent(hub, "pc-1-02")
        expect(chip(page, "pc-1-02")).to_have_attribute("data-status", "online", timeout=20_000)
        expect(board_row(page, "1.02")).to_have_attribute("data-protected", "true")

        # Second PC gone, for the picture: two gaps among the offices.
        agents[1].close()
        expect(chip(page, "pc-1-01")).to_have_attribute("data-status", "offline", timeout=20_000)
        shot = tmp_path / "console-coverage.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
        if target := os.environ.get(SCREENSHOT_DIR_ENV):
            shutil.copyfile(shot, Path(target) / shot.name)
    finally:
        for agent in agents:
            agent.close()


def test_outside_opening_hours_gaps_are_listed_but_not_alarming(
    hub_closed_today: RunningHub, page: Page
) -> None:
    log_in(page, hub_closed_today)
    page.goto(f"{hub_closed_today.url}/console#coverage")  # the board can be bookmarked
    expect(page.get_by_test_id("coverage-board")).to_be_visible()
    expect(page.get_by_test_id("opening-state")).to_contain_text("jetzt geschlossen")
    row = board_row(page, "1.03")
    expect(row).to_have_attribute("data-protected", "false")
    expect(row.get_by_test_id("room-status")).to_contain_text("UNGESCHÜTZT")
    expect(row).not_to_have_class(re.compile(r"\bgap\b"))
    expect(page.get_by_test_id("coverage-gaps")).not_to_have_class(re.compile(r"\bhot\b"))
