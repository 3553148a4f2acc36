"""Operators on the admin pages, and who may open them at all — Chromium against a real hub."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.support.browser import log_in, log_in_as
from tests.support.hub import RunningHub
from tests.support.operators import add_operator, api_client

API = "/api/v1"


def operators(api: httpx.Client) -> dict[str, dict[str, object]]:
    return {o["username"]: o for o in api.get(f"{API}/operators").json()}


def test_an_admin_creates_an_operator_after_a_refused_password(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    page = admin_page
    page.goto(f"{demo_hub.url}/admin/operators")
    form = page.get_by_test_id("operator-create")
    form.get_by_label("Benutzername").fill("nacht.wache")
    form.get_by_label("Name", exact=True).fill("Nachtwache Haus A")
    form.get_by_label("Rolle").select_option("emergency_manager")
    form.get_by_label("Passwort").fill("zu-kurz")
    form.get_by_label("Jobcenter Musterstadt").check()
    form.get_by_role("button", name="Benutzer anlegen").click()
    expect(form.get_by_text("Bitte mindestens 12 Zeichen eingeben.")).to_be_visible()
    expect(form.get_by_test_id("form-error")).to_contain_text("Nicht gespeichert")
    assert "nacht.wache" not in operators(admin_api)  # nothing half-saved

    form.get_by_label("Passwort").fill("ein-langes-passwort-1")
    form.get_by_role("button", name="Benutzer anlegen").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Benutzer nacht.wache angelegt")
    row = page.locator('[data-testid=operator-row][data-username="nacht.wache"]')
    expect(row.get_by_test_id("operator-role")).to_have_text("Notfallmanagement")
    created = operators(admin_api)["nacht.wache"]
    assert created["role"] == "emergency_manager"
    assert created["display_name"] == "Nachtwache Haus A"
    assert created["site_ids"] == [1]
    with api_client(demo_hub, "nacht.wache", "ein-langes-passwort-1") as new:  # it can sign in
        assert new.get(f"{API}/session").json()["role"] == "emergency_manager"

    # Change the role and disable the account.
    row.get_by_role("button", name="Bearbeiten").click()
    editor = page.get_by_test_id("operator-editor")
    editor.get_by_label("Rolle").select_option("guard")
    editor.get_by_label("Zugang deaktivieren").check()
    editor.get_by_role("button", name="Speichern").click()
    expect(row.get_by_test_id("operator-status")).to_have_text("deaktiviert")
    changed = operators(admin_api)["nacht.wache"]
    assert (changed["role"], changed["disabled"]) == ("guard", True)

    # A new password, then delete (after the confirm).
    row.get_by_role("button", name="Passwort setzen").click()
    password_form = page.get_by_test_id("password-form")
    password_form.get_by_label("Neues Passwort").fill("kurz")
    password_form.get_by_role("button", name="Speichern").click()
    expect(password_form.get_by_text("Bitte mindestens 12 Zeichen eingeben.")).to_be_visible()
    password_form.get_by_label("Neues Passwort").fill("noch-ein-passwort-22")
    password_form.get_by_role("button", name="Speichern").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Neues Passwort für nacht.wache")
    row.get_by_role("button", name="Löschen").click()
    page.get_by_test_id("confirm").get_by_role("button", name="Löschen").click()
    expect(row).to_have_count(0)
    assert "nacht.wache" not in operators(admin_api)


def test_a_guard_is_refused_the_admin_pages_and_sees_no_admin_link(
    page: Page, demo_hub: RunningHub
) -> None:
    log_in(page, demo_hub)
    expect(page).to_have_url(f"{demo_hub.url}/console")
    expect(page.get_by_test_id("operator-name")).to_be_visible()
    expect(page.get_by_test_id("admin-link")).to_have_count(0)
    for path in (
        "/admin",
        "/admin/sites",
        "/admin/workstations",
        "/admin/policies",
        "/admin/drills",
    ):
        response = page.goto(f"{demo_hub.url}{path}")
        assert response is not None
        assert response.status == 403, path
        expect(page.get_by_test_id("error-message")).to_contain_text("Kein Zugriff")
    page.goto(f"{demo_hub.url}/admin/operators?lang=en")
    expect(page.get_by_test_id("error-message")).to_contain_text("No access")
    # The API refuses too, whatever the page shows.
    with api_client(demo_hub, demo_hub.login.username, demo_hub.login.password) as guard:
        assert guard.get(f"{API}/operators").status_code == 403
        refused = guard.put(
            f"{API}/sites/1/policies/1",
            json={"scopes": ["security"], "cancel_window_s": 10},
        )
        assert refused.status_code == 403


def test_an_admin_sees_the_link_and_an_emergency_manager_reaches_only_the_drills(
    page: Page, demo_hub: RunningHub, admin_api: httpx.Client
) -> None:
    log_in_as(page, demo_hub, "admin", "admin-passwort-1234")
    page.get_by_test_id("admin-link").click()
    expect(page).to_have_url(f"{demo_hub.url}/admin/sites")
    expect(page.get_by_test_id("nav-operators")).to_be_visible()

    add_operator(demo_hub, "notfall", "notfall-passwort-1234", "emergency_manager")
    page.get_by_test_id("logout").click()
    log_in_as(page, demo_hub, "notfall", "notfall-passwort-1234")
    page.get_by_test_id("admin-link").click()
    expect(page).to_have_url(f"{demo_hub.url}/admin/drills")
    expect(page.get_by_test_id("nav-operators")).to_have_count(0)
    response = page.goto(f"{demo_hub.url}/admin/policies")
    assert response is not None
    assert response.status == 403  # policies are written by admins only (the API's rule)
