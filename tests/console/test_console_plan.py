"""The floor plan and the police hand-off beside an alarm, in Chromium against the real hub."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from shared.domain import AlarmLevel
from tests.console.conftest import row_of
from tests.console.test_console_live import SCREENSHOT_DIR_ENV, raise_alarm
from tests.support.syncclient import TestAgent

Agents = Callable[..., TestAgent]
API = "/api/v1"
FIRST_FLOOR = 2  # "1. OG" of the demo site, rooms 1.01-1.05 at x = 4 … 24 m, y = 4 m
# A small plan as an architect's export might look: corridor, five offices, two stairwells.
SVG_PLAN = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 280 120" width="840" height="360">
  <rect x="0" y="0" width="280" height="120" fill="#ffffff" stroke="#111827" stroke-width="2"/>
  <rect x="0" y="80" width="280" height="20" fill="#e5e7eb"/>
  <g fill="#f9fafb" stroke="#374151" stroke-width="1.5">
    <rect x="15" y="10" width="50" height="65"/><rect x="65" y="10" width="50" height="65"/>
    <rect x="115" y="10" width="50" height="65"/><rect x="165" y="10" width="50" height="65"/>
    <rect x="215" y="10" width="50" height="65"/>
  </g>
  <g fill="#d1fae5" stroke="#065f46"><rect x="2" y="82" width="12" height="16"/>
    <rect x="266" y="82" width="12" height="16"/></g>
</svg>
"""


def upload_plan(admin: httpx.Client) -> None:
    """What engineer D's admin page does: upload, mark entrances, place the rooms."""
    response = admin.put(
        f"{API}/floors/{FIRST_FLOOR}/plan",
        files={"file": ("1og.svg", SVG_PLAN.encode(), "image/svg+xml")},
        data={"width_m": "28", "height_m": "12"},
    )
    assert response.status_code == 200, response.text
    for label, x in (("Eingang A / Treppenhaus 1", 0.8), ("Eingang B / Treppenhaus 2", 27.2)):
        created = admin.post(
            f"{API}/floors/{FIRST_FLOOR}/entrances", json={"label": label, "x_m": x, "y_m": 9}
        )
        assert created.status_code == 201, created.text


def test_floor_plan_highlights_the_room_and_labels_the_entrances(
    admin_api: httpx.Client, logged_in_page: Page, agents: Agents, tmp_path: Path
) -> None:
    upload_plan(admin_api)
    page = logged_in_page
    alarm_id = raise_alarm(agents("pc-1-03", user="Frau Celik"), AlarmLevel.THREAT)
    expect(row_of(page, alarm_id)).to_be_visible()

    detail = page.get_by_test_id("alarm-detail")
    expect(detail).to_have_attribute("data-alarm-id", str(alarm_id))  # the only alarm: chosen
    expect(detail).to_contain_text("Lage: Raum 1.03 Beratung 3")
    plan = detail.get_by_test_id("plan")
    image = plan.get_by_test_id("plan-image")
    expect(image).to_be_visible()
    expect(image).to_have_attribute("src", re.compile(rf"^{API}/floors/{FIRST_FLOOR}/plan\?v=\w+$"))
    # The SVG is shown as an image (never inline, so it cannot run script) and it loaded.
    page.wait_for_function(
        "el => el.complete && el.naturalWidth > 0", arg=image.element_handle(), timeout=5000
    )
    assert plan.locator("svg").count() == 0

    target = plan.locator('[data-testid="plan-room"].target')
    expect(target).to_have_count(1)
    expect(target).to_have_attribute("data-room-number", "1.03")
    expect(target).to_have_attribute("aria-current", "location")
    expect(plan.get_by_test_id("plan-room")).to_have_count(5)
    # Placed where the room is: 14 m of 28 m from the left, 4 m of 12 m from the top.
    box, room = plan.bounding_box(), target.bounding_box()
    assert box is not None
    assert room is not None
    centre_x = (room["x"] + room["width"] / 2 - box["x"]) / box["width"]
    centre_y = (room["y"] + room["height"] / 2 - box["y"]) / box["height"]
    assert abs(centre_x - 0.5) < 0.02, centre_x
    assert abs(centre_y - 4 / 12) < 0.03, centre_y
    entrances = plan.get_by_test_id("plan-entrance")
    expect(entrances).to_have_count(2)
    expect(entrances.nth(0)).to_contain_text("Eingang A / Treppenhaus 1")
    expect(entrances.nth(1)).to_contain_text("Eingang B / Treppenhaus 2")

    shot = tmp_path / "console-floorplan.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if target_dir := os.environ.get(SCREENSHOT_DIR_ENV):
        shutil.copyfile(shot, Path(target_dir) / shot.name)


def test_plan_without_image_is_schematic_and_follows_the_chosen_alarm(
    logged_in_page: Page, agents: Agents
) -> None:
    page = logged_in_page
    first = raise_alarm(agents("pc-1-01"), AlarmLevel.SUPPORT)
    expect(row_of(page, first)).to_be_visible()
    second = raise_alarm(agents("pc-1-05"), AlarmLevel.SUPPORT)
    expect(row_of(page, second)).to_be_visible()
    plan = page.get_by_test_id("plan")
    expect(plan).to_have_class("plan schematic")  # no plan uploaded: positions only
    expect(plan.get_by_test_id("plan-image")).to_be_hidden()
    expect(plan.locator(".target")).to_have_attribute("data-room-number", "1.05")  # newest
    row_of(page, first).get_by_role("button", name="Lageplan").click()
    expect(plan.locator(".target")).to_have_attribute("data-room-number", "1.01")
    expect(row_of(page, first).get_by_role("button", name="Lageplan")).to_have_attribute(
        "aria-pressed", "true"
    )
    # Level 1 is no case for the police: no hand-off panel.
    expect(page.get_by_test_id("police-panel")).to_have_count(0)


def test_police_hand_off_is_copied_and_printed_in_one_step(
    admin_api: httpx.Client,
    logged_in_page: Page,
    browser_context: BrowserContext,
    agents: Agents,
) -> None:
    site = admin_api.patch(
        f"{API}/sites/1",
        json={"phone": "0211 123-0", "police_notes": "Zufahrt über Hof, Schlüsseltresor links"},
    )
    assert site.status_code == 200, site.text
    page = logged_in_page
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"])
    alarm_id = raise_alarm(agents("pc-1-04"), AlarmLevel.DANGER)
    expect(row_of(page, alarm_id)).to_be_visible()

    panel = page.get_by_test_id("police-panel")  # read by a guard: GET /sites/{id} allows it
    expect(panel.get_by_test_id("police-address")).to_have_text(
        "Musterstraße 1, 12345 Musterstadt · Jobcenter Musterstadt"
    )
    expect(panel.get_by_test_id("police-room")).to_have_text("1.04 Leistungsabteilung")
    expect(panel.get_by_test_id("police-entrance")).to_have_text("Eingang B / Treppenhaus 2")
    expect(panel.get_by_test_id("police-phone")).to_contain_text("0211 123-0")
    expect(panel.get_by_test_id("police-notes")).to_have_text(
        "Zufahrt über Hof, Schlüsseltresor links"
    )

    panel.get_by_role("button", name="Kopieren").click()
    expect(panel.get_by_test_id("copied")).to_have_text("In die Zwischenablage kopiert.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.splitlines() == [
        "Stiller Alarm – Stufe 3 Gefahr / Amok",
        "Adresse: Musterstraße 1, 12345 Musterstadt · Jobcenter Musterstadt",
        "Gebäude: Haus A",
        "Etage: 1. OG",
        "Raum: 1.04 Leistungsabteilung",
        "Nächster Eingang: Eingang B / Treppenhaus 2",
        "Telefon: Zentrale 0211 123-0",
        "Hinweise: Zufahrt über Hof, Schlüsseltresor links",
        copied.splitlines()[-1],
    ]
    assert copied.splitlines()[-1].startswith("Alarm ausgelöst um ")

    # "Drucken" prints the hand-off alone: everything else is hidden in print.
    panel.get_by_role("button", name="Drucken").click()
    expect(page.locator("body")).to_have_class("page-console print-police")
    page.emulate_media(media="print")
    expect(panel).to_be_visible()
    assert panel.evaluate("el => getComputedStyle(el).visibility") == "visible"
    assert row_of(page, alarm_id).evaluate("el => getComputedStyle(el).visibility") == "hidden"
    assert (
        page.get_by_test_id("police-entrance").evaluate("el => getComputedStyle(el).visibility")
        == "visible"
    )
    expect(panel.get_by_role("button", name="Kopieren")).to_be_hidden()
    page.emulate_media(media="screen")
    page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    expect(page.locator("body")).to_have_class("page-console")
