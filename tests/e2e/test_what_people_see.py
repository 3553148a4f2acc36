"""What colleagues and security see on their real popups, and "Bin da" on the guard's console.

Three Xvfb displays with real agents (raiser 1.01, neighbour 1.02, security E.01),
the real hub and the console in Chromium. The popups' text is checked through the
agent's own log line "popup text", which writes what the popup shows (without
the raiser's name); the neighbour answers with the keyboard on its own display.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from shared.domain import AlarmLevel, Trigger
from shared.protocol import AlarmStored, CancelAlarm, RaiseAlarm, utc_now
from tests.support.agentproc import RunningAgent, start_agent
from tests.support.hub import RunningHub
from tests.support.operators import ADMIN, API, add_operator, api_client
from tests.support.syncclient import TestAgent
from tests.support.xserver import XServer, wait_for_window

pytestmark = pytest.mark.e2e

ROOM_PHONE = "0521 123-101"
WHERE = (
    "Raum 1.01 – Beratung 1 | Haus A · Etage: 1. OG"
    " | Nächster Eingang: Eingang A / Treppenhaus 1"
    f" | Telefon im Raum: {ROOM_PHONE}"
)


def give_room_a_phone(hub: RunningHub, number: str, phone: str) -> None:
    """The demo rooms have an entrance but no phone: an admin adds one over REST."""
    add_operator(hub, *ADMIN, "admin")
    with api_client(hub, *ADMIN) as admin:
        rooms = admin.get(f"{API}/rooms")
        assert rooms.status_code == 200, rooms.text
        (room,) = [r for r in rooms.json() if r["number"] == number]
        changed = admin.patch(f"{API}/rooms/{room['id']}", json={"phone": phone})
        assert changed.status_code == 200, changed.text


def test_neighbour_and_security_see_the_place_and_the_neighbour_says_bin_da(
    demo_hub: RunningHub,
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
    logged_in_page: Page,
) -> None:
    give_room_a_phone(demo_hub, "1.01", ROOM_PHONE)
    page = logged_in_page
    raiser_x, neighbour_x, security_x = xservers(), xservers(), xservers()
    raiser = start_agent(demo_hub.agent_config_path("pc-1-01"), raiser_x)
    neighbour = start_agent(demo_hub.agent_config_path("pc-1-02"), neighbour_x)
    security = start_agent(demo_hub.agent_config_path("pc-e-01"), security_x)
    agents += [raiser, neighbour, security]
    for agent in agents:
        agent.wait_for_log("connected to hub", timeout=20)
    raiser.wait_for_log("hotkey listening", timeout=20)

    raiser_x.xdotool("key", "ctrl+alt+p")
    row = page.get_by_test_id("alarm-row")
    expect(row).to_have_count(1, timeout=10000)
    alarm_id = row.get_attribute("data-alarm-id")
    assert alarm_id

    # Both popups name building, floor, room, the nearest entrance and the room's phone.
    for agent in (neighbour, security):
        shown = agent.wait_for_log(f"popup text {alarm_id}: ", timeout=10)
        assert WHERE in shown, shown
        assert "Frau Albers" not in shown  # the log keeps the raiser's name out
    assert "Polizei" not in neighbour.wait_for_log(f"popup text {alarm_id}: ")

    # The neighbour: "Ich komme" (Alt+I), then at the room "Bin da" (Alt+B).
    popup = wait_for_window(neighbour_x.display, "^Stiller Alarm – Raum 1.01$", timeout=10)
    neighbour_x.xdotool("windowfocus", "--sync", str(popup))
    neighbour_x.xdotool("key", "alt+i")
    responder = row.get_by_test_id("responder").filter(has_text="Herr Becker")
    expect(responder).to_contain_text("kommt", timeout=10000)
    neighbour.wait_for_log(f"popup answered {alarm_id} coming")
    # The popup stayed on screen for "Bin da".
    assert wait_for_window(neighbour_x.display, "^Stiller Alarm – Raum 1.01$") == popup
    neighbour_x.xdotool("windowfocus", "--sync", str(popup))
    neighbour_x.xdotool("key", "alt+b")
    neighbour.wait_for_log(f"popup answered {alarm_id} arrived")

    expect(responder).to_contain_text("ist da", timeout=10000)
    expect(row.get_by_test_id("arrived")).to_have_text("Vor Ort: Herr Becker")
    expect(row.get_by_test_id("state")).to_have_text("Hilfe vor Ort")
    expect(row).to_have_attribute("data-state", "arrived")


def test_security_is_told_which_room_to_follow_up_when_an_alarm_is_withdrawn(
    demo_hub: RunningHub,
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
    logged_in_page: Page,
) -> None:
    security_x = xservers()
    security = start_agent(demo_hub.agent_config_path("pc-e-01"), security_x)
    agents.append(security)
    security.wait_for_log("connected to hub", timeout=20)
    # The raiser speaks the real protocol; the promise under test is security's screen.
    raiser = TestAgent(demo_hub, "pc-1-04")
    try:
        alarm_id = uuid.uuid4()
        raiser.send(
            RaiseAlarm(
                alarm_id=alarm_id,
                level=AlarmLevel.THREAT,
                trigger=Trigger.HOTKEY,
                raised_at=utc_now(),
            )
        )
        raiser.expect(AlarmStored, lambda m: m.alarm_id == alarm_id)
        security.wait_for_log(f"popup shown {alarm_id}", timeout=10)
        raiser.send(CancelAlarm(alarm_id=alarm_id))  # within the default 30 s window
    finally:
        raiser.close()

    notice = security.wait_for_log(f"all clear shown {alarm_id} cancelled: ", timeout=10)
    assert "Der Alarm aus Raum 1.04 – Leistungsabteilung wurde zurückgenommen." in notice
    assert "nicht mehr gebraucht" not in notice
    wait_for_window(security_x.display, "^Stiller Alarm – Entwarnung$", timeout=10)
    follow_up = logged_in_page.get_by_test_id("follow-up")
    expect(follow_up).to_contain_text("bitte in Raum 1.04 Leistungsabteilung nachfassen")
