"""The workstations page in Chromium against a real hub: CSV import, enrolment, assign, revoke,
thin clients mapped ahead (issue 19). Rooms from the directory: test_admin_directory_sync.py."""

from __future__ import annotations

import time

import httpx
from playwright.sync_api import Locator, Page, expect
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


def test_a_csv_row_of_kind_client_is_shown_as_new_and_then_listed_in_its_room(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    """Issue 19: thin clients pre-mapped in bulk through the page's CSV import."""
    page = admin_page
    page.goto(f"{demo_hub.url}/admin/workstations")
    csv = page.get_by_test_id("csv-import")
    choose_csv(page, "hostname;room_number;kind\nTHIN-70;1.03;client\n")
    csv.get_by_role("button", name="Prüfen").click()
    new = page.get_by_test_id("csv-new-client")
    expect(new).to_have_text("Zeile 2: THIN-70 – neu anzulegen, Raum 1.03")
    expect(page.get_by_test_id("csv-new-clients")).to_contain_text("Thin Clients neu anzulegen: 1")
    assert admin_api.get(f"{API}/workstations/THIN-70").status_code == 404  # a dry run

    csv.get_by_role("button", name="Importieren").click()
    expect(page.get_by_test_id("notice")).to_contain_text(
        "Import abgeschlossen: 0 PCs geändert, 1 Thin Clients angelegt."
    )
    mapped = workstation(admin_api, "THIN-70")
    assert (mapped["state"], mapped["room_number"]) == ("active", "1.03")
    row = page.locator('[data-testid=ws-row][data-id="THIN-70"]')
    expect(row.get_by_test_id("ws-state")).to_have_text("aktiv")
    expect(row.get_by_test_id("room-select")).to_have_value(str(mapped["room_id"]))


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


# --- thin clients mapped before their first session (issue 19) ---------------------------


def client_form(page: Page) -> Locator:
    return page.get_by_test_id("session-client")


def workstation_ids(api: httpx.Client) -> list[str]:
    return sorted(str(ws["id"]) for ws in api.get(f"{API}/workstations").json())


def test_a_thin_client_mapped_on_the_page_is_active_in_its_room_and_its_session_is_placed_there(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    page = admin_page
    page.goto(f"{demo_hub.url}/admin/workstations")
    # The demo hub has no directory: its sync is not offered (the API would answer 409).
    expect(page.get_by_test_id("csv-import")).to_be_visible()
    expect(page.get_by_test_id("directory-sync")).to_have_count(0)
    form = client_form(page)
    form.get_by_label("Gerätename (CLIENTNAME)").fill("THIN-07")
    form.get_by_label("Raum").select_option(label="1.04 Leistungsabteilung")
    form.get_by_role("button", name="Zuordnen").click()

    expect(page.get_by_test_id("notice")).to_contain_text(
        "Thin Client THIN-07 ist jetzt Raum 1.04 zugeordnet."
    )
    expect(form.get_by_label("Gerätename (CLIENTNAME)")).to_have_value("")
    mapped = workstation(admin_api, "THIN-07")
    assert (mapped["state"], mapped["room_number"]) == ("active", "1.04")
    row = page.locator('[data-testid=ws-row][data-id="THIN-07"]')
    expect(row.get_by_test_id("ws-state")).to_have_text("aktiv")
    expect(row.get_by_test_id("room-select")).to_have_value(str(mapped["room_id"]))
    expect(page.locator('[data-testid=pending-row][data-id="THIN-07"]')).to_have_count(0)

    # The first session from that device, on a terminal server in another room, is placed
    # in the client's room from its welcome on.
    added = demo_hub.cli("workstation", "add", "rds-02", "--room", "1.05")
    assert added.returncode == 0, added.stderr
    hello = agent_hello(
        "rds-02", added.stdout.strip(), "Herr Sitzung", RemoteSession(client_name="THIN-07")
    )
    with connect(demo_hub.agent_ws_url, open_timeout=5, close_timeout=2, proxy=None) as session:
        session.send(encode(hello))
        welcome = hub_to_agent.validate_json(session.recv(timeout=5))
    assert isinstance(welcome, Welcome), welcome
    assert welcome.workstation.workstation_id == "THIN-07"
    assert welcome.workstation.room is not None
    assert welcome.workstation.room.number == "1.04"


def test_a_refused_thin_client_shows_the_apis_reason_and_stores_nothing(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    floor_id = admin_api.get(f"{API}/floors").json()[0]["id"]
    created = admin_api.post(
        f"{API}/rooms", json={"floor_id": floor_id, "number": "1.99", "name": "Abstellraum"}
    )
    assert created.status_code == 201, created.text
    room_id = created.json()["id"]
    before = workstation_ids(admin_api)
    page = admin_page
    page.goto(f"{demo_hub.url}/admin/workstations")
    form = client_form(page)
    name = form.get_by_label("Gerätename (CLIENTNAME)")
    error = form.get_by_test_id("client-error")
    add = form.get_by_role("button", name="Zuordnen")

    # The room is deleted after the page showed it (another admin, another tab).
    form.get_by_label("Raum").select_option(label="1.99 Abstellraum")
    assert admin_api.delete(f"{API}/rooms/{room_id}").status_code == 204
    name.fill("THIN-08")
    add.click()
    expect(error).to_have_text(f"no room {room_id}")

    # A name taken in another spelling: the API's 409, and the PC keeps its room.
    name.fill("PC-1-01")
    form.get_by_label("Raum").select_option(label="1.04 Leistungsabteilung")
    add.click()
    expect(error).to_have_text("workstation pc-1-01 exists already; assign its room instead")

    # Not a computer name: pydantic's pattern refusal, in German next to the field.
    name.fill("THIN 09")
    add.click()
    expect(form.get_by_text("Das Format stimmt nicht.")).to_be_visible()
    expect(name).to_have_attribute("aria-invalid", "true")

    assert workstation_ids(admin_api) == before
    assert workstation(admin_api, "pc-1-01")["room_number"] == "1.01"
    expect(page.get_by_test_id("ws-row")).to_have_count(len(before))
    expect(page.get_by_test_id("notice")).to_be_hidden()
