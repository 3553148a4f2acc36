"""An alarm flood is one situation on the guards' console, not forty cards (issue 15).

A plain client speaking the real protocol floods for pc-1-01 (room 1.01): forty
alarms as fast as it can send. Another PC's alarm meanwhile stays its own card.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from shared.domain import AlarmLevel, Trigger
from shared.protocol import AlarmStored, RaiseAlarm, utc_now
from tests.console.conftest import row_of
from tests.support.hub import RunningHub, query
from tests.support.syncclient import TestAgent
from tests.support.waiting import wait_until

Agents = Callable[..., TestAgent]
FLOOD = 40
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLOODER = "SELECT count(*) FROM alarms WHERE workstation_id = 'pc-1-01'"


def raise_alarms(agent: TestAgent, level: AlarmLevel, count: int) -> list[uuid.UUID]:
    """Sends count alarms back to back, then waits until the hub has stored each."""
    sent = [uuid.uuid4() for _ in range(count)]
    for alarm_id in sent:
        agent.send(
            RaiseAlarm(alarm_id=alarm_id, level=level, trigger=Trigger.HOTKEY, raised_at=utc_now())
        )
    stored = {agent.expect(AlarmStored, timeout=20).alarm_id for _ in sent}
    assert stored == set(sent)
    return sent


def flooder_alarms(hub: RunningHub, condition: str) -> int:
    """How many of the flooding PC's alarms meet condition (a fixed SQL fragment)."""
    return int(str(query(hub, f"{FLOODER} AND {condition}")[0][0]))


def test_a_flood_is_one_flagged_card_counting_every_alarm_beside_other_raisers_cards(
    demo_hub: RunningHub, logged_in_page: Page, agents: Agents
) -> None:
    page = logged_in_page
    other = agents("pc-1-04")
    (other_alarm,) = raise_alarms(other, AlarmLevel.SUPPORT, 1)
    expect(row_of(page, other_alarm)).to_be_visible()
    flooder = agents("pc-1-01", user="Frau Albers")
    raise_alarms(flooder, AlarmLevel.THREAT, FLOOD)

    flood = page.get_by_test_id("flood")
    expect(flood).to_have_count(1)
    expect(flood).to_have_attribute("data-count", str(FLOOD))
    expect(flood.get_by_test_id("flood-flag")).to_have_text(
        re.compile(rf"^Alarmflut: {FLOOD} Alarme von PC pc-1-01 / Raum 1\.01 in \d+(,\d)? s$")
    )
    expect(flood.get_by_test_id("flood-level")).to_contain_text("Bedrohung")
    expect(flood.get_by_test_id("flood-state")).to_have_text(
        f"{FLOOD} nicht quittiert · {FLOOD} offen"
    )
    # The other raiser's alarm is still a card of its own, and the only card listed.
    rows = page.get_by_test_id("active-alarms").get_by_test_id("alarm-row")
    expect(rows).to_have_count(1)
    expect(rows).to_have_attribute("data-alarm-id", str(other_alarm))
    expect(page.get_by_test_id("open-count")).to_have_text(str(FLOOD + 1))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-flood.png"), full_page=True)

    # Every alarm is stored, and the card counts as showing each (no "nobody reached").
    assert query(demo_hub, FLOODER) == [(FLOOD,)]
    wait_until(
        lambda: flooder_alarms(demo_hub, "console_seen_at IS NOT NULL") == FLOOD,
        10,
        what="every flood alarm seen on the console",
    )

    # "Alle quittieren" takes each alarm of the flood, none of the other raiser's.
    flood.get_by_test_id("flood-acknowledge").click()
    expect(flood.get_by_test_id("flood-state")).to_have_text(f"0 nicht quittiert · {FLOOD} offen")
    assert flooder_alarms(demo_hub, "state = 'acknowledged'") == FLOOD
    expect(row_of(page, other_alarm)).to_have_attribute("data-state", "active")

    # Each alarm is still listed on demand, marked as part of the flood.
    flood.get_by_test_id("flood-expand").click()
    expect(rows).to_have_count(FLOOD + 1)
    members = page.locator('[data-testid="flood-member"]:visible')
    expect(members.filter(has_text="Teil einer Alarmflut")).to_have_count(FLOOD)
    flood.get_by_test_id("flood-expand").click()
    expect(rows).to_have_count(1)

    # One incident report gives the all clear for each alarm of the flood.
    flood.get_by_test_id("flood-resolve").click()
    dialog = page.get_by_test_id("report-dialog")
    expect(dialog.locator("#report-heading")).to_have_text(
        f"Entwarnung und Vorfallbericht – Alarmflut Raum 1.01, {FLOOD} Alarme"
    )
    dialog.get_by_test_id("report-notes").fill("Hängende Taste an pc-1-01")
    dialog.get_by_test_id("report-submit").click()
    wait_until(
        lambda: flooder_alarms(demo_hub, "state = 'resolved'") == FLOOD,
        10,
        what="every flood alarm resolved",
    )
    # Gone from the open list (below 5 open ones a flood's rest would be rows again).
    expect(flood).to_have_count(0)
    expect(rows).to_have_count(1)
    expect(row_of(page, other_alarm)).to_be_visible()
    expect(page.get_by_test_id("open-count")).to_have_text("1")


def test_a_level_3_flood_is_pinned_once_and_a_lone_level_3_stays_pinned_beside_it(
    logged_in_page: Page, agents: Agents
) -> None:
    page = logged_in_page
    lone = agents("pc-1-04")
    (lone_alarm,) = raise_alarms(lone, AlarmLevel.DANGER, 1)
    raise_alarms(agents("pc-1-01"), AlarmLevel.DANGER, 5)  # the fewest that are a flood

    expect(page.get_by_test_id("flood")).to_have_attribute("data-level", "3")
    pinned_floods = page.get_by_test_id("danger-pinned-flood")
    expect(pinned_floods).to_have_count(1)
    expect(pinned_floods).to_contain_text("Alarmflut: 5 Alarme von PC pc-1-01 / Raum 1.01")
    pinned = page.get_by_test_id("danger-pinned-alarm")
    expect(pinned).to_have_count(1)  # not six: the flood's five are its one entry
    expect(pinned).to_have_attribute("data-alarm-id", str(lone_alarm))
