"""Drill scheduling on the admin pages — Chromium against a real hub and its drills API."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
from playwright.sync_api import Page, expect

from tests.support.hub import RunningHub

API = "/api/v1"


def test_an_admin_schedules_a_drill_after_a_refused_time_and_deletes_it(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    page = admin_page
    day = (date.today() + timedelta(days=2)).isoformat()
    page.goto(f"{demo_hub.url}/admin/drills")
    form = page.get_by_test_id("drill-create")
    form.get_by_label("Titel").fill("Übung 1. OG")
    form.get_by_label("Beginn").fill(f"{day}T10:00")
    form.get_by_label("Ende").fill(f"{day}T09:30")
    form.get_by_label("ganze Etage").check()
    form.get_by_role("button", name="Übung planen").click()
    expect(form.get_by_test_id("form-error")).to_contain_text("ends_at must be after starts_at")
    assert admin_api.get(f"{API}/drills").json() == []

    form.get_by_label("Ende").fill(f"{day}T11:00")
    form.get_by_role("button", name="Übung planen").click()
    row = page.locator('[data-testid=drill-row][data-title="Übung 1. OG"]')
    expect(row.get_by_test_id("drill-status")).to_have_text("geplant")
    (drill,) = admin_api.get(f"{API}/drills").json()
    assert sorted(drill["scopes"]) == ["floor", "neighbours", "security"]
    assert drill["ends_at"] > drill["starts_at"]

    row.get_by_role("button", name="Bericht").click()
    expect(page.get_by_test_id("drill-report-panel")).to_contain_text("noch kein Alarm")

    row.get_by_role("button", name="Löschen").click()
    page.get_by_test_id("confirm").get_by_role("button", name="Löschen").click()
    expect(row).to_have_count(0)
    assert admin_api.get(f"{API}/drills").json() == []
