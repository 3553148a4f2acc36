"""The statistics page in Chromium: a resolved real alarm is counted, a drill alarm is not."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from dispatch.alarms.statistics import REPORT_ZONE
from shared.domain import AlarmLevel, Answer
from shared.protocol import IncidentReport
from tests.support.alarmdriver import AlarmDriver
from tests.support.hub import RunningHub
from tests.support.operators import API, MANAGER, add_operator, api_client

SCREENSHOT_DIR_ENV = "SILENT_ALARM_SCREENSHOT_DIR"  # set to docs/screenshots to refresh the docs


def sign_in(page: Page, hub: RunningHub, username: str, password: str) -> None:
    page.goto(f"{hub.url}/login")
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort").fill(password)
    page.get_by_role("button", name="Anmelden").click()
    expect(page).to_have_url(f"{hub.url}/console")


def raise_and_resolve(hub: RunningHub, alarm_driver: AlarmDriver) -> None:
    """Two real alarms resolved with reports and one drill alarm, all through the real hub."""
    # Real alarms through the hub: agents raise over WebSockets, a guard's console resolves.
    threat = alarm_driver.raise_alarm("pc-1-01", AlarmLevel.THREAT)
    alarm_driver.answer("pc-1-02", threat, Answer.COMING)
    alarm_driver.resolve(
        threat,
        IncidentReport(assessed_level=AlarmLevel.DANGER, police_called=True, house_ban=True),
    )
    support = alarm_driver.raise_alarm("pc-1-04", AlarmLevel.SUPPORT)
    alarm_driver.answer("pc-1-03", support, Answer.COMING)
    alarm_driver.answer("pc-1-03", support, Answer.ARRIVED)
    alarm_driver.resolve(support, IncidentReport(assessed_level=AlarmLevel.SUPPORT))
    with api_client(hub, *MANAGER) as manager:
        now = datetime.now().astimezone()
        scheduled = manager.post(
            f"{API}/drills",
            json={
                "site_id": 1,
                "title": "Übung 1. OG",
                "starts_at": (now - timedelta(minutes=1)).isoformat(),
                "ends_at": (now + timedelta(hours=1)).isoformat(),
                "scopes": ["neighbours", "security"],
            },
        )
        assert scheduled.status_code == 201, scheduled.text
    drill = alarm_driver.raise_alarm("pc-1-03", AlarmLevel.DANGER, kind="drill")
    alarm_driver.resolve(drill)


def test_statistics_count_the_resolved_alarm_and_not_the_drill(
    page: Page, demo_hub: RunningHub, tmp_path: Path
) -> None:
    add_operator(demo_hub, *MANAGER, "emergency_manager")
    alarm_driver = AlarmDriver(demo_hub)
    try:
        raise_and_resolve(demo_hub, alarm_driver)
    finally:
        alarm_driver.close()
    # The page's days and months are the report zone's (Europe/Berlin), not this machine's:
    # between 23:00 and 24:00 UTC Berlin is a day ahead.
    now = datetime.now(REPORT_ZONE)

    sign_in(page, demo_hub, *MANAGER)
    page.goto(f"{demo_hub.url}/console/statistics")
    expect(page.get_by_role("heading", name="Statistik", exact=True)).to_be_visible()
    expect(page.get_by_test_id("stat-alarms")).to_have_text("2")  # the drill is not counted
    expect(page.get_by_test_id("stat-police")).to_have_text("1")
    expect(page.get_by_test_id("stat-house-bans")).to_have_text("1")
    month = now.strftime("%Y-%m")
    month_row = page.get_by_test_id("stats-months").locator(f'tr[data-key="{month}"]')
    expect(month_row.get_by_test_id("alarms")).to_have_text("2")
    expect(page.locator("body")).to_have_attribute("data-charts", "3")  # Chart.js drew all three
    expect(page.get_by_test_id("stats-summary")).not_to_contain_text("Albers")
    page_text = page.locator("main").inner_text()
    for personal in ("Albers", "Becker", "Demir", "pc-1-0", "Beratung"):
        assert personal not in page_text

    csv_link = page.get_by_test_id("csv-export")
    expected = f"{API}/statistics.csv?from={now.year}-01-01&to={now.date().isoformat()}&lang=de"
    expect(csv_link).to_have_attribute("href", expected)
    with page.expect_download() as download:
        csv_link.click()
    csv_text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert csv_text.splitlines()[0].startswith("Monat;Alarme;")

    shot = tmp_path / "statistics.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if target := os.environ.get(SCREENSHOT_DIR_ENV):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(target) / shot.name)

    page.get_by_test_id("yearly-report").click()
    expect(page.get_by_test_id("report-title")).to_have_text(
        f"Jahresbericht Stiller Alarm {now.year}"
    )
    expect(page.get_by_test_id("stat-alarms")).to_have_text("2")


def test_filters_bad_input_and_the_guard(page: Page, demo_hub: RunningHub) -> None:
    add_operator(demo_hub, *MANAGER, "emergency_manager")
    sign_in(page, demo_hub, *MANAGER)
    page.goto(f"{demo_hub.url}/console/statistics")
    page.get_by_test_id("filter-from").fill("2026-05-01")
    page.get_by_test_id("filter-to").fill("2026-01-31")
    page.get_by_test_id("filter-apply").click()
    expect(page.get_by_test_id("stats-error")).to_contain_text("Der Zeitraum ist ungültig")
    response = page.goto(f"{demo_hub.url}/console/statistics?from=2026-13-01")
    assert response is not None
    assert response.status == 422
    expect(page.get_by_test_id("stats-error")).to_have_text(
        "Von: „2026-13-01“ ist kein gültiges Datum (JJJJ-MM-TT)."
    )
    page.get_by_test_id("logout").click()

    sign_in(page, demo_hub, demo_hub.login.username, demo_hub.login.password)
    refused = page.goto(f"{demo_hub.url}/console/statistics")
    assert refused is not None
    assert refused.status == 403
    expect(page.get_by_test_id("error-message")).to_contain_text("Notfallbeauftragten")
    refused = page.goto(f"{demo_hub.url}/console/reports/yearly?year=2026")
    assert refused is not None
    assert refused.status == 403
