"""Sites, buildings, floors and rooms on the admin pages — Chromium against a real hub."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.support.hub import RunningHub

API = "/api/v1"


def room_numbers(api: httpx.Client) -> list[str]:
    return [r["number"] for r in api.get(f"{API}/rooms").json()]


def test_an_admin_creates_edits_and_deletes_a_room_with_the_api_messages_on_refusal(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    page = admin_page
    page.goto(f"{demo_hub.url}/admin/sites")
    expect(page.get_by_test_id("site-row")).to_contain_text("Jobcenter Musterstadt")
    expect(page.get_by_test_id("floor-row")).to_have_count(2)
    page.get_by_test_id("floors").get_by_role("button", name="1. OG").click()
    rooms = page.get_by_test_id("room-row")
    expect(rooms).to_have_count(5)

    page.get_by_test_id("new-room").click()
    editor = page.get_by_test_id("editor")
    expect(editor.get_by_label("Raumnummer")).to_be_focused()
    editor.get_by_label("Raumnummer").fill("1.01")  # taken
    editor.get_by_label("Name").fill("Beratung 6")
    editor.get_by_role("button", name="Speichern").click()
    expect(editor.get_by_test_id("form-error")).to_contain_text("room 1.01 exists already")
    editor.get_by_label("Raumnummer").fill("1.06;")
    editor.get_by_role("button", name="Speichern").click()
    # Next to the number field, which is marked invalid.
    expect(editor.locator("#e-number")).to_contain_text("Das Format stimmt nicht.")
    expect(editor.get_by_label("Raumnummer")).to_have_attribute("aria-invalid", "true")
    assert "1.06;" not in room_numbers(admin_api)

    editor.get_by_label("Raumnummer").fill("1.06")
    editor.get_by_label("X (m)").fill("29")
    editor.get_by_label("Y (m)").fill("4")
    editor.get_by_role("button", name="Speichern").click()
    expect(editor).to_have_count(0)
    expect(rooms).to_have_count(6)
    created = next(r for r in admin_api.get(f"{API}/rooms").json() if r["number"] == "1.06")
    assert (created["name"], created["x_m"], created["y_m"]) == ("Beratung 6", 29.0, 4.0)

    new_row = page.locator('[data-testid=room-row][data-number="1.06"]')
    new_row.get_by_role("button", name="Bearbeiten").click()
    editor.get_by_label("Name").fill("Beratung 6 (Eltern)")
    editor.get_by_role("button", name="Speichern").click()
    expect(new_row).to_contain_text("Beratung 6 (Eltern)")

    # A room with a workstation cannot go: the API's reason appears, the room stays.
    page.locator('[data-testid=room-row][data-number="1.01"]').get_by_role(
        "button", name="Löschen"
    ).click()
    page.get_by_test_id("confirm").get_by_role("button", name="Löschen").click()
    expect(page.get_by_test_id("notice")).to_contain_text("workstations are assigned to it")
    assert "1.01" in room_numbers(admin_api)

    new_row.get_by_role("button", name="Löschen").click()
    expect(page.get_by_test_id("confirm")).to_contain_text("Raum „1.06 Beratung 6 (Eltern)“")
    page.get_by_test_id("confirm").get_by_role("button", name="Löschen").click()
    expect(new_row).to_have_count(0)
    assert "1.06" not in room_numbers(admin_api)


def test_a_site_with_a_bad_radius_is_refused_then_created_with_building_and_floor(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    page = admin_page
    page.goto(f"{demo_hub.url}/admin/sites")
    page.get_by_test_id("new-site").click()
    editor = page.get_by_test_id("editor")
    editor.get_by_label("Name").fill("Außenstelle Nord")
    editor.get_by_label("Nachbarradius (m)").fill("zehn")
    editor.get_by_role("button", name="Speichern").click()
    expect(editor.get_by_text("Bitte eine Zahl eingeben, z. B. 12,5.")).to_be_visible()
    assert len(admin_api.get(f"{API}/sites").json()) == 1

    editor.get_by_label("Nachbarradius (m)").fill("8")
    editor.get_by_role("button", name="Speichern").click()
    expect(page.get_by_test_id("site-row")).to_have_count(2)
    site = next(s for s in admin_api.get(f"{API}/sites").json() if s["name"] == "Außenstelle Nord")
    assert site["neighbour_radius_m"] == 8.0

    page.get_by_test_id("sites").get_by_role("button", name="Außenstelle Nord").click()
    page.get_by_test_id("new-building").click()
    editor.get_by_label("Name").fill("Haus N")
    editor.get_by_role("button", name="Speichern").click()
    expect(page.get_by_test_id("building-row")).to_have_count(1)
    page.get_by_test_id("new-floor").click()
    editor.get_by_label("Name").fill("EG")
    editor.get_by_label("Breite des Plans (m)").fill("40")
    editor.get_by_label("Höhe des Plans (m)").fill("12")
    editor.get_by_role("button", name="Speichern").click()
    expect(page.get_by_test_id("floor-row")).to_have_count(1)
    floors = admin_api.get(f"{API}/floors").json()
    new_floor = next(f for f in floors if f["width_m"] == 40.0)
    assert (new_floor["name"], new_floor["height_m"]) == ("EG", 12.0)
    expect(page.get_by_test_id("floor-plan-link")).to_have_attribute(
        "href", f"/admin/floors/{new_floor['id']}"
    )
