"""What guards see (issue 13): level 3 first and pinned, "Lageplan" on screen, who has not
confirmed, and the statistics links for the roles that may open them.

The real hub, the console in Chromium, and workstations speaking the real protocol.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from shared.domain import AlarmLevel, Trigger
from shared.protocol import AlarmNotify, AlarmStored, RaiseAlarm, Receipt, utc_now
from tests.console.conftest import row_of
from tests.support.browser import log_in_as
from tests.support.hub import RunningHub
from tests.support.operators import API, MANAGER, add_operator, api_client
from tests.support.syncclient import TestAgent

Agents = Callable[..., TestAgent]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def raise_stored(agent: TestAgent, level: AlarmLevel) -> uuid.UUID:
    alarm_id = uuid.uuid4()
    agent.send(
        RaiseAlarm(alarm_id=alarm_id, level=level, trigger=Trigger.HOTKEY, raised_at=utc_now())
    )
    agent.expect(AlarmStored, lambda m: m.alarm_id == alarm_id)
    return alarm_id


def test_level_three_stays_first_and_pinned_and_lageplan_shows_the_plan(
    logged_in_page: Page, agents: Agents
) -> None:
    page = logged_in_page
    page.set_viewport_size({"width": 1280, "height": 640})
    danger = raise_stored(agents("pc-1-03"), AlarmLevel.DANGER)
    expect(row_of(page, danger)).to_be_visible()
    newer = [
        raise_stored(agents(ws), AlarmLevel.THREAT) for ws in ("pc-1-01", "pc-1-04", "pc-1-05")
    ]
    rows = page.get_by_test_id("alarm-row")
    expect(rows).to_have_count(4)
    # Three newer level-2 alarms, and the level-3 row is still the first.
    expect(rows.first).to_have_attribute("data-alarm-id", str(danger))
    assert [r.get_attribute("data-level") for r in rows.all()] == ["3", "2", "2", "2"]
    # Newest first among the level-2 rows.
    assert [r.get_attribute("data-alarm-id") for r in rows.all()[1:]] == [
        str(a) for a in reversed(newer)
    ]

    # Scrolled far down, the level-3 alarm is still on screen (the pinned strip) …
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    expect(row_of(page, danger)).not_to_be_in_viewport()
    pinned = page.get_by_test_id("danger-pinned-alarm")
    expect(pinned).to_have_count(1)
    expect(pinned).to_be_in_viewport()
    expect(pinned).to_contain_text("1.03 Beratung 3")
    # … and one click brings its row back.
    pinned.click()
    expect(row_of(page, danger)).to_be_in_viewport()
    page.screenshot(path=str(ARTIFACTS / "console-level-3-first.png"))

    # "Lageplan" on a level-2 row selects it and scrolls its floor plan into view.
    page.evaluate("window.scrollTo(0, 0)")
    detail = page.get_by_test_id("alarm-detail")
    expect(detail).not_to_be_in_viewport()
    row_of(page, newer[0]).get_by_role("button", name="Lageplan").click()
    expect(detail).to_have_attribute("data-alarm-id", str(newer[0]))
    expect(page.get_by_test_id("plan")).to_be_in_viewport()
    expect(page.get_by_test_id("plan-room").filter(has_text="1.01")).to_have_class(
        "plan-room target"
    )


def test_zugestellt_opens_the_pcs_that_have_not_confirmed(
    logged_in_page: Page, agents: Agents
) -> None:
    page = logged_in_page
    alarm_id = raise_stored(agents("pc-1-01"), AlarmLevel.THREAT)  # to 1.02 and security E.01
    row = row_of(page, alarm_id)
    expect(row.get_by_test_id("delivery")).to_have_text("zugestellt an 0 von 2 Bildschirmen")
    row.get_by_test_id("delivery").click()
    pcs = row.get_by_test_id("unconfirmed-pc")
    expect(pcs).to_have_text(
        ["pc-1-02 – Raum 1.02 Beratung 2", "pc-e-01 – Raum E.01 Empfang / Sicherheitsdienst"]
    )
    expect(row.get_by_test_id("unconfirmed-more")).to_be_hidden()
    page.screenshot(path=str(ARTIFACTS / "console-unconfirmed.png"))

    # The neighbour's popup is confirmed: the open list follows without a click.
    neighbour = agents("pc-1-02")
    neighbour.expect(AlarmNotify, lambda m: m.alarm_id == alarm_id)
    neighbour.send(Receipt(alarm_id=alarm_id))
    expect(row.get_by_test_id("delivery")).to_have_text("zugestellt an 1 von 2 Bildschirmen")
    expect(pcs).to_have_text(["pc-e-01 – Raum E.01 Empfang / Sicherheitsdienst"])


def test_unconfirmed_list_is_capped_and_scoped(demo_hub: RunningHub, agents: Agents) -> None:
    threat = raise_stored(agents("pc-1-01"), AlarmLevel.THREAT)
    support = raise_stored(agents("pc-1-04"), AlarmLevel.SUPPORT)
    add_operator(demo_hub, *MANAGER, "emergency_manager")
    with httpx.Client(base_url=demo_hub.url, timeout=15) as anonymous:
        assert anonymous.get(f"{API}/alarms/{threat}/unconfirmed").status_code == 401
    with api_client(demo_hub, *MANAGER) as manager:
        body = manager.get(f"{API}/alarms/{threat}/unconfirmed", params={"limit": 1}).json()
        assert body == {
            "recipients": 2,
            "unconfirmed": [
                {"workstation_id": "pc-1-02", "room": "1.02", "room_name": "Beratung 2"}
            ],
            "more": 1,
        }
        # An emergency manager's console does not show a level-1 alarm: not found here either.
        assert manager.get(f"{API}/alarms/{support}/unconfirmed").status_code == 404
        assert manager.get(f"{API}/alarms/{uuid.uuid4()}/unconfirmed").status_code == 404
        assert manager.get(f"{API}/alarms/{threat}/unconfirmed?limit=0").status_code == 422


def test_statistics_links_only_for_the_roles_that_may_open_them(
    logged_in_page: Page, demo_hub: RunningHub
) -> None:
    page = logged_in_page  # the demo guard
    expect(page.get_by_test_id("operator-name")).to_be_visible()
    expect(page.get_by_test_id("statistics-link")).to_have_count(0)
    expect(page.get_by_test_id("yearly-report-link")).to_have_count(0)

    add_operator(demo_hub, *MANAGER, "emergency_manager")
    page.context.clear_cookies()
    log_in_as(page, demo_hub, *MANAGER)
    expect(page.get_by_test_id("statistics-link")).to_have_text("Statistik")
    expect(page.get_by_test_id("yearly-report-link")).to_have_text("Jahresbericht")
    page.get_by_test_id("yearly-report-link").click()
    expect(page).to_have_url(f"{demo_hub.url}/console/reports/yearly")
    expect(page.locator("h1")).to_contain_text("Jahresbericht")
    page.go_back()
    page.get_by_test_id("statistics-link").click()
    expect(page).to_have_url(f"{demo_hub.url}/console/statistics")
