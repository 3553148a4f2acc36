"""Rooms from the directory on the workstations page (issue 19), in Chromium against a real
hub whose directory is a real OpenLDAP (tests/support/slapd.py: computers with the room in
``l``).

One slapd and one hub for the module. Only the first test changes a room (pc-1-01 to 1.03);
the others compare every room before and after, so the order of the tests does not matter.
The admin is a directory account, as an office's IT admin would be.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.support.browser import log_in_as
from tests.support.hub import RunningHub, start_demo_hub
from tests.support.operators import API, api_client
from tests.support.slapd import Computer, Person, RunningSlapd, computer, hub_env, start_slapd

ADMIN = Person("ilse", "Ilse IT", "ilse-verzeichnis-1", ("it-admins",))
COMPUTERS = [
    Computer("pc-1-01", "1.03"),  # demo: in 1.01, so the sync moves it
    Computer("pc-1-02", "1.02"),  # unchanged
    Computer("pc-1-03", "1.03"),  # unchanged, until a test writes an unknown room into it
    Computer("drucker-3", None),  # no room attribute
    Computer("pc-nie-eingerichtet", "1.04"),  # never enrolled
]


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSlapd]:
    server = start_slapd(tmp_path_factory.mktemp("slapd"), [ADMIN], COMPUTERS)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, slapd: RunningSlapd) -> Iterator[RunningHub]:
    # Sessions are checked against the directory once a minute: no check runs in a test.
    env = hub_env(slapd, {"it-admins": "admin"}, {"it-admins": []}, check_interval=60)
    running = start_demo_hub(tmp_path_factory.mktemp("hub"), env=env)
    yield running
    running.stop()


@pytest.fixture
def directory(slapd: RunningSlapd) -> RunningSlapd:
    """The directory answering (a test before may have stopped it)."""
    if slapd.process.poll() is not None:
        slapd.restart()
    return slapd


@pytest.fixture
def admin_api(hub: RunningHub, directory: RunningSlapd) -> Iterator[httpx.Client]:
    with api_client(hub, ADMIN.uid, ADMIN.password) as client:
        yield client


@pytest.fixture
def sync_section(page: Page, hub: RunningHub, directory: RunningSlapd) -> Locator:
    """The page of the directory's admin, at "Räume aus dem Verzeichnis"."""
    log_in_as(page, hub, ADMIN.uid, ADMIN.password)
    page.goto(f"{hub.url}/admin/workstations")
    section = page.get_by_test_id("directory-sync")
    expect(section).to_be_visible()
    return section


def rooms(api: httpx.Client) -> dict[str, object]:
    """Every workstation's room number, as the API has it."""
    return {str(ws["id"]): ws["room_number"] for ws in api.get(f"{API}/workstations").json()}


def test_the_admin_previews_the_directorys_rooms_then_applies_them(
    sync_section: Locator, admin_api: httpx.Client
) -> None:
    section = sync_section
    apply = section.get_by_role("button", name="Übernehmen")
    expect(apply).to_be_disabled()  # nothing previewed yet
    before = rooms(admin_api)
    assert before["pc-1-01"] == "1.01"

    section.get_by_role("button", name="Vorschau").click()
    expect(section.get_by_test_id("directory-summary")).to_have_text(
        "Vorschau ohne Fehler: 4 Computer mit Raum, 1 Änderungen, 2 unverändert."
    )
    change = section.get_by_test_id("directory-change")
    expect(change).to_have_count(1)
    expect(change).to_have_attribute("data-id", "pc-1-01")
    expect(change.get_by_test_id("directory-room-change")).to_have_text("1.01 → 1.03")
    expect(change).to_contain_text(computer("pc-1-01"))
    not_enrolled = section.get_by_test_id("directory-not-enrolled")
    expect(not_enrolled).to_have_count(1)
    expect(not_enrolled).to_have_attribute("data-dn", computer("pc-nie-eingerichtet"))
    expect(section.get_by_text("Nicht angemeldet (1)")).to_be_visible()
    expect(section.get_by_test_id("directory-without-room")).to_have_text(computer("drucker-3"))
    assert rooms(admin_api) == before  # a preview writes nothing

    expect(apply).to_be_enabled()
    apply.click()
    page = section.page
    expect(page.get_by_test_id("notice")).to_contain_text(
        "Räume aus dem Verzeichnis übernommen: 1 PCs geändert."
    )
    expect(section.get_by_test_id("directory-summary")).to_have_text(
        "Übernommen: 1 PCs geändert, 2 unverändert."
    )
    expect(apply).to_be_disabled()  # the next apply needs a new preview
    moved = admin_api.get(f"{API}/workstations/pc-1-01").json()
    assert (moved["room_number"], moved["state"]) == ("1.03", "active")
    assert rooms(admin_api) == {**before, "pc-1-01": "1.03"}
    row = page.locator('[data-testid=ws-row][data-id="pc-1-01"]')
    expect(row.get_by_test_id("room-select")).to_have_value(str(moved["room_id"]))


def test_an_unknown_room_in_the_directory_names_the_computer_and_changes_nothing(
    sync_section: Locator, admin_api: httpx.Client, directory: RunningSlapd
) -> None:
    section = sync_section
    apply = section.get_by_role("button", name="Übernehmen")
    problem = section.get_by_test_id("directory-problem")
    before = rooms(admin_api)
    section.get_by_role("button", name="Vorschau").click()
    expect(section.get_by_test_id("directory-summary")).to_contain_text("Vorschau ohne Fehler")
    expect(apply).to_be_enabled()

    # Between the preview and "Übernehmen" someone types a room the hub does not know.
    directory.set_room("pc-1-03", "9.99")
    try:
        apply.click()
        expect(problem).to_have_count(1)
        expect(problem).to_have_attribute("data-dn", computer("pc-1-03"))
        expect(problem).to_have_text(f"{computer('pc-1-03')}: unknown room '9.99' at site 1")
        expect(section.get_by_test_id("directory-error")).to_contain_text("nothing was changed")
        expect(section.get_by_test_id("directory-report")).to_have_count(0)
        expect(apply).to_be_disabled()
        assert rooms(admin_api) == before

        # A new preview is refused alike, and still nothing is offered to apply.
        section.get_by_role("button", name="Vorschau").click()
        expect(section.get_by_test_id("directory-error")).to_contain_text("sync refused")
        expect(problem).to_have_attribute("data-dn", computer("pc-1-03"))
        expect(apply).to_be_disabled()
        assert rooms(admin_api) == before
    finally:
        directory.set_room("pc-1-03", "1.03")


def test_the_directory_down_is_named_with_its_reason(
    sync_section: Locator, admin_api: httpx.Client, directory: RunningSlapd
) -> None:
    section = sync_section
    before = rooms(admin_api)
    directory.stop()  # the admin's session stays: the hub keeps sessions while it is down
    section.get_by_role("button", name="Vorschau").click()
    error = section.get_by_test_id("directory-error")
    expect(error).to_contain_text("Verzeichnisdienst nicht erreichbar: directory cannot be used")
    expect(section.get_by_role("button", name="Übernehmen")).to_be_disabled()
    directory.restart()
    assert rooms(admin_api) == before
