"""The workstations page in Chromium against a real hub: CSV import, enrolment, assign, revoke."""

from __future__ import annotations

import time

import httpx
from playwright.sync_api import Page, expect
from websockets.sync.client import connect

from shared.protocol import RemoteSession, Welcome, WorkstationUpdate, encode, hub_to_agent
from tests.support.hub import RunningHub
from tests.support.wsclient import agent_hello

API = "/api/v1"


def workstation(api: httpx.Client, workstation_id: str) -> dict[str, object]:
    found: dict[str, object] = api.get(f"{API}/workstations/{workstation_id}").json()
    return found


def choose_csv(page: Page, text: str) -> None:
    page.get_by_test_id("csv-import").get_by_label("CSV-Datei").set_input_files(
        {"name": "zuordnung.csv", "mimeType": "text/csv", "buffer": text.encode()}
    )


def test_a_csv_with_one_bad_row_imports_nothing_and_names_the_row_then_a_clean_one_imports(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    page = admin_page
    page.goto(f"{demo_hub.url}/admin/workstations")
    csv = page.get_by_test_id("csv-import")
    import_button = csv.get_by_role("button", name="Importieren")

    choose_csv(page, "workstation_id,room_number\npc-1-01,1.05\npc-1-02,9.99\n")
    csv.get_by_role("button", name="Prüfen").click()
    bad = page.get_by_test_id("csv-bad-row")
    expect(bad).to_have_count(1)
    expect(bad).to_have_attribute("data-line", "3")
    expect(bad).to_contain_text("Zeile 3: unknown room '9.99'")
    expect(page.get_by_test_id("csv-error")).to_contain_text("nothing was imported")
    expect(import_button).to_be_disabled()
    # Not even the good row (line 2) was taken over.
    assert workstation(admin_api, "pc-1-01")["room_number"] == "1.01"

    choose_csv(page, "workstation_id,room_number\npc-1-01,1.05\npc-1-02,1.02\n")
    expect(bad).to_have_count(0)
    csv.get_by_role("button", name="Prüfen").click()
    expect(page.get_by_test_id("csv-report")).to_contain_text("1 Änderungen, 1 unverändert")
    assert workstation(admin_api, "pc-1-01")["room_number"] == "1.01"  # a dry run writes nothing
    expect(import_button).to_be_enabled()
    import_button.click()
    expect(page.get_by_test_id("notice")).to_contain_text("Import abgeschlossen: 1 PCs geändert")
    assert workstation(admin_api, "pc-1-01")["room_number"] == "1.05"
    row = page.locator('[data-testid=ws-row][data-id="pc-1-01"]')
    expect(row.get_by_test_id("room-select")).to_have_value(
        str(workstation(admin_api, "pc-1-01")["room_id"])
    )


def test_a_code_made_on_the_page_enrols_a_pc_that_is_then_assigned_a_room(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    page = admin_page
    page.goto(f"{demo_hub.url}/admin/workstations")
    codes = page.get_by_test_id("codes")
    codes.get_by_role("button", name="Codes erzeugen").click()
    code = codes.get_by_test_id("issued-code")
    expect(code).to_have_count(1)
    secret_code = code.inner_text().strip()
    expect(codes.get_by_test_id("code-status").first).to_have_text("unbenutzt")

    # The PC's install script trades the code (no session: the code is the credential).
    enrolled = httpx.post(
        f"{demo_hub.url}{API}/enrol",
        json={"code": secret_code, "hostname": "PC-NEU-07", "agent_version": "test"},
        timeout=10,
    )
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["state"] == "pending"
    ws_id = enrolled.json()["workstation_id"]

    page.reload()
    pending = page.locator(f'[data-testid=pending-row][data-id="{ws_id}"]')
    expect(pending).to_contain_text("PC-NEU-07")
    expect(pending.get_by_role("button", name="Raum zuweisen")).to_be_disabled()
    pending.get_by_label("Raum").select_option(label="1.04 Leistungsabteilung")
    pending.get_by_role("button", name="Raum zuweisen").click()
    expect(page.get_by_test_id("notice")).to_contain_text(f"{ws_id} ist jetzt Raum 1.04 zugeordnet")
    expect(pending).to_have_count(0)
    assigned = workstation(admin_api, ws_id)
    assert (assigned["state"], assigned["room_number"]) == ("active", "1.04")
    expect(page.get_by_test_id("code-status").first).to_have_text("benutzt")


def test_a_bad_code_request_shows_the_api_message_next_to_the_field(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    page = admin_page
    page.goto(f"{demo_hub.url}/admin/workstations")
    codes = page.get_by_test_id("codes")
    codes.get_by_label("Gültig (Stunden)").fill("9999")
    codes.get_by_role("button", name="Codes erzeugen").click()
    expect(codes.get_by_text("Bitte eine Zahl bis höchstens 168 eingeben.")).to_be_visible()
    expect(codes.get_by_test_id("issued-codes")).to_have_count(0)
    assert admin_api.get(f"{API}/enrolment-codes").json() == []


def test_search_narrows_the_mapping_and_revoke_asks_first(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    page = admin_page
    page.goto(f"{demo_hub.url}/admin/workstations")
    rows = page.get_by_test_id("ws-row")
    expect(rows).to_have_count(6)
    page.get_by_label("Suchen").fill("pc-1-0 beratung")  # no PC's text has "beratung"
    expect(rows).to_have_count(0)
    page.get_by_label("Suchen").fill("1-03")
    expect(rows).to_have_count(1)

    rows.get_by_role("button", name="Sperren").click()
    dialog = page.get_by_test_id("confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("PC pc-1-03 sperren?")
    dialog.get_by_role("button", name="Abbrechen").click()
    expect(dialog).to_be_hidden()
    assert workstation(admin_api, "pc-1-03")["state"] == "active"  # "no" changes nothing

    rows.get_by_role("button", name="Sperren").click()
    dialog.get_by_role("button", name="Sperren").click()
    expect(rows.get_by_test_id("ws-state")).to_have_text("gesperrt")
    assert workstation(admin_api, "pc-1-03")["state"] == "revoked"


def test_a_terminal_server_client_waits_for_a_room_and_its_session_is_told(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    """Issue 19: the first session of an unknown thin client puts it among the waiting PCs."""
    added = demo_hub.cli("workstation", "add", "rds-01", "--room", "1.05")
    assert added.returncode == 0, added.stderr
    hello = agent_hello(
        "rds-01", added.stdout.strip(), "Frau Sitzung", RemoteSession(client_name="THIN-42")
    )
    with connect(demo_hub.agent_ws_url, open_timeout=5, close_timeout=2, proxy=None) as session:
        session.send(encode(hello))
        welcome = hub_to_agent.validate_json(session.recv(timeout=5))
        assert isinstance(welcome, Welcome), welcome
        assert (welcome.workstation.workstation_id, welcome.workstation.room) == ("THIN-42", None)

        page = admin_page
        page.goto(f"{demo_hub.url}/admin/workstations")
        pending = page.locator('[data-testid=pending-row][data-id="THIN-42"]')
        expect(pending).to_contain_text("THIN-42")
        pending.get_by_label("Raum").select_option(label="1.04 Leistungsabteilung")
        pending.get_by_role("button", name="Raum zuweisen").click()
        expect(page.get_by_test_id("notice")).to_contain_text("THIN-42 ist jetzt Raum 1.04")
        expect(pending).to_have_count(0)
        assigned = workstation(admin_api, "THIN-42")
        assert (assigned["state"], assigned["room_number"]) == ("active", "1.04")

        # The open session hears its room within a heartbeat round, without reconnecting.
        deadline = time.monotonic() + 10
        while True:
            message = hub_to_agent.validate_json(session.recv(timeout=deadline - time.monotonic()))
            if isinstance(message, WorkstationUpdate):
                break
        assert message.workstation.room is not None
        assert message.workstation.room.number == "1.04"
