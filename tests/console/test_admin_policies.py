"""Alarm policies: the countdown through the API, and the policy page in Chromium, on a real hub."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.support.hub import RunningHub

API = "/api/v1"
LEVEL_2 = f"{API}/sites/1/policies/2"
POLICY = {
    "scopes": ["neighbours", "security"],
    "escalation": [{"after_s": 45, "scope": "floor"}],
    "cancel_window_s": 30,
    "raiser_feedback": "count",
}


def test_the_policy_api_stores_the_countdown_and_refuses_more_than_ten_seconds(
    admin_api: httpx.Client,
) -> None:
    assert admin_api.get(LEVEL_2).json()["countdown_s"] == 0  # the default: send at once
    saved = admin_api.put(LEVEL_2, json={**POLICY, "countdown_s": 5})
    assert saved.status_code == 200, saved.text
    assert saved.json()["countdown_s"] == 5
    assert admin_api.get(LEVEL_2).json()["countdown_s"] == 5

    for bad in (11, -1):
        refused = admin_api.put(LEVEL_2, json={**POLICY, "countdown_s": bad, "cancel_window_s": 9})
        assert refused.status_code == 422
        assert "countdown_s" in refused.text
    kept = admin_api.get(LEVEL_2).json()
    assert (kept["countdown_s"], kept["cancel_window_s"]) == (5, 30)  # nothing half-saved

    # Without the field the countdown is 0 again (a PUT replaces the whole policy).
    assert admin_api.put(LEVEL_2, json=POLICY).json()["countdown_s"] == 0


def test_an_admin_edits_a_policy_sees_the_api_message_for_a_bad_value_and_resets_it(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    page = admin_page
    page.goto(f"{demo_hub.url}/admin/policies")
    page.get_by_test_id("level-2").click()
    form = page.get_by_test_id("policy-form")
    expect(form.get_by_test_id("policy-source")).to_have_text("Standardregel")
    expect(form.get_by_test_id("step")).to_have_count(3)  # level 2's default: 45, 90, 120 s

    form.get_by_label("Abbruchfenster").fill("999")
    form.get_by_label("Countdown").fill("3")
    form.get_by_role("button", name="Speichern").click()
    expect(form.get_by_test_id("error-cancel_window_s")).to_have_text(
        "Bitte eine Zahl bis höchstens 300 eingeben."
    )
    expect(form.get_by_label("Abbruchfenster")).to_have_attribute("aria-invalid", "true")
    assert admin_api.get(LEVEL_2).json()["source"] == "default"  # nothing saved

    # A policy that would not reach security: the API's rule, shown for the whole form.
    form.get_by_label("Abbruchfenster").fill("20")
    form.get_by_label("Sicherheitsdienst", exact=True).uncheck()
    form.get_by_role("button", name="Speichern").click()
    expect(form.get_by_test_id("form-error")).to_contain_text("must include security")
    expect(form.get_by_test_id("error-cancel_window_s")).to_be_hidden()
    assert admin_api.get(LEVEL_2).json()["source"] == "default"

    form.get_by_label("Sicherheitsdienst", exact=True).check()
    form.get_by_label("Namen der Helfenden").check()
    form.get_by_role("button", name="Speichern").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Regel für Stufe 2 gespeichert")
    expect(form.get_by_test_id("policy-source")).to_have_text("für diesen Standort gespeichert")
    stored = admin_api.get(LEVEL_2).json()
    assert stored["source"] == "site"
    assert (stored["cancel_window_s"], stored["countdown_s"]) == (20, 3)
    assert stored["raiser_feedback"] == "names"
    assert [s["after_s"] for s in stored["escalation"]] == [45, 90, 120]

    form.get_by_role("button", name="Auf Standard zurücksetzen").click()
    page.get_by_test_id("confirm").get_by_role("button", name="Auf Standard zurücksetzen").click()
    expect(form.get_by_test_id("policy-source")).to_have_text("Standardregel")
    assert admin_api.get(LEVEL_2).json()["source"] == "default"


def test_an_escalation_step_out_of_order_is_named_at_its_row(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    page = admin_page
    page.goto(f"{demo_hub.url}/admin/policies")
    form = page.get_by_test_id("policy-form")
    expect(form.get_by_test_id("step")).to_have_count(2)  # level 1's default: 60, 120 s
    form.get_by_test_id("after-1").fill("0")
    form.get_by_role("button", name="Speichern").click()
    expect(form.get_by_test_id("step").nth(1)).to_contain_text("Bitte eine Zahl ab 1 eingeben.")
    form.get_by_test_id("after-1").fill("30")
    form.get_by_role("button", name="Speichern").click()
    expect(form.get_by_test_id("form-error")).to_contain_text("strictly increasing")
    assert admin_api.get(f"{API}/sites/1/policies/1").json()["source"] == "default"


# --- issue 13: "nobody reached" after n seconds ---------------------------------------


def test_nobody_reached_time_is_stored_refused_out_of_range_and_edited_on_the_page(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    assert admin_api.get(LEVEL_2).json()["nobody_reached_s"] == 10  # the product's default
    for bad in (0, 121):
        refused = admin_api.put(LEVEL_2, json={**POLICY, "nobody_reached_s": bad})
        assert refused.status_code == 422
        assert "nobody_reached_s" in refused.text
    assert admin_api.get(LEVEL_2).json()["source"] == "default"  # nothing saved

    page = admin_page
    page.goto(f"{demo_hub.url}/admin/policies")
    page.get_by_test_id("level-2").click()
    form = page.get_by_test_id("policy-form")
    # Level 2's policy has arrived: a field typed into earlier is reset when it does.
    expect(form.get_by_test_id("step")).to_have_count(3)
    field = form.get_by_label("„Niemand erreicht“ nach")
    expect(field).to_have_value("10")
    field.fill("0")
    form.get_by_role("button", name="Speichern").click()
    expect(form.get_by_test_id("error-nobody_reached_s")).to_have_text(
        "Bitte eine Zahl ab 1 eingeben."
    )
    assert admin_api.get(LEVEL_2).json()["source"] == "default"
    field.fill("4")
    form.get_by_role("button", name="Speichern").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Regel für Stufe 2 gespeichert")
    assert admin_api.get(LEVEL_2).json()["nobody_reached_s"] == 4
