"""A PC moved to another room while its agent runs: everyone is told the NEW room.

The admin moves pc-1-01 from 1.01 to 1.05 (REST PATCH) while its agent stays
connected. The agent's status shows the new room; then the employee presses
Strg+Alt+P. Security's popup names 1.05, the colleague next to 1.05 (pc-1-04) gets
the popup, the old neighbour of 1.01 (pc-1-02) is not alerted, and the guards'
console row and police panel name 1.05. Real hub, three real agents on their own
Xvfb displays (pynput sees every key on its display), the console in Chromium.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.agentproc import RunningAgent, start_agent
from tests.support.hub import RunningHub, query
from tests.support.operators import ADMIN, API, add_operator, api_client
from tests.support.waiting import wait_until
from tests.support.xserver import XServer, wait_for_window

pytestmark = pytest.mark.e2e

NEW_ROOM_TITLE = "^Stiller Alarm – Raum 1.05$"
BOUND = 15.0  # seconds; generous for a busy 2-core machine


@pytest.fixture
def admin_api(demo_hub: RunningHub) -> Iterator[httpx.Client]:
    """An admin made with the CLI, as on a real server, and an API session of theirs."""
    add_operator(demo_hub, *ADMIN, "admin")
    with api_client(demo_hub, *ADMIN) as client:
        yield client


def agent_status(agent: RunningAgent, x: XServer) -> str:
    """``silent-alarm-agent status --config …``: asks the running agent over its socket."""
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "status", "--config", str(agent.config_path)],
        env=x.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout


def test_a_pc_moved_while_connected_raises_the_alarm_for_its_new_room(
    demo_hub: RunningHub,
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
    admin_api: httpx.Client,
    logged_in_page: Page,
) -> None:
    page = logged_in_page
    raiser_x, neighbour_x, security_x = xservers(), xservers(), xservers()
    raiser = start_agent(demo_hub.agent_config_path("pc-1-01"), raiser_x)  # room 1.01
    neighbour = start_agent(demo_hub.agent_config_path("pc-1-04"), neighbour_x)  # next to 1.05
    security = start_agent(demo_hub.agent_config_path("pc-e-01"), security_x)  # E.01
    agents += [raiser, neighbour, security]
    for agent in agents:
        agent.wait_for_log("connected to hub", timeout=BOUND)
        agent.wait_for_log("hotkey listening", timeout=BOUND)
    assert "Raum 1.01 – Beratung 1, 1. OG" in agent_status(raiser, raiser_x)

    ((room_105,),) = query(demo_hub, "SELECT id FROM rooms WHERE number = '1.05'")
    since = raiser.log_size()
    moved = admin_api.patch(f"{API}/workstations/pc-1-01", json={"room_id": room_105})
    assert moved.status_code == 200, moved.text
    saved = time.monotonic()

    # The agent is told by the hub, without reconnecting, and its status says so.
    raiser.wait_for_log(r"workstation update: room 1\.05", timeout=BOUND, since=since)
    told_after = time.monotonic() - saved
    wait_until(
        lambda: "Raum 1.05 – Teamleitung, 1. OG" in agent_status(raiser, raiser_x) or None,
        BOUND,
        what="the raiser's status naming room 1.05",
    )
    assert "connected to hub" not in raiser.log()[since:]

    raiser_x.xdotool("key", "ctrl+alt+p")
    page.wait_for_selector("[data-testid=alarm-row]", timeout=BOUND * 1000)
    row = page.get_by_test_id("alarm-row")
    expect(row).to_have_count(1)
    alarm_id = row.get_attribute("data-alarm-id")
    assert alarm_id

    # Security and the colleague next to the NEW room get the popup naming it.
    wait_for_window(security_x.display, NEW_ROOM_TITLE, timeout=BOUND)
    wait_for_window(neighbour_x.display, NEW_ROOM_TITLE, timeout=BOUND)
    security.wait_for_log(f"popup shown {alarm_id}", timeout=BOUND)
    neighbour.wait_for_log(f"popup shown {alarm_id}", timeout=BOUND)

    # The guards' console and police hand-off name the new room too.
    expect(row.get_by_test_id("room")).to_contain_text("1.05")
    expect(row.get_by_test_id("room")).to_contain_text("Teamleitung")
    expect(row.get_by_test_id("raiser")).to_contain_text("Frau Albers")
    panel = page.get_by_test_id("police-panel")
    expect(panel.get_by_test_id("police-room")).to_have_text("1.05 Teamleitung")
    expect(panel.get_by_test_id("police-entrance")).to_have_text("Eingang B / Treppenhaus 2")

    # Who was alerted is who the rooms say: the recipients were committed before the
    # alarm reached anyone, so the old neighbour's absence is settled now.
    recipients = {
        r[0]
        for r in query(
            demo_hub, "SELECT workstation_id FROM alarm_recipients WHERE alarm_id = ?", alarm_id
        )
    }
    assert recipients == {"pc-1-04", "pc-e-01"}
    ((stored_room,),) = query(
        demo_hub,
        "SELECT rooms.number FROM alarms JOIN rooms ON rooms.id = alarms.room_id"
        " WHERE alarms.id = ?",
        alarm_id,
    )
    assert stored_room == "1.05"
    # No popup on the raiser's screen for the visitor (only the raiser's own discreet
    # notice, "Stiller Alarm – Rückmeldung", may be there).
    popups = raiser_x.xdotool("search", "--name", "^Stiller Alarm – Raum", check=False).stdout
    assert popups.split() == []
    print(f"\nmove saved -> raiser's agent told (seen in its log): {told_after * 1000:.0f} ms")
