"""The whole path through the real parts: hotkey → hub → neighbour's popup and guard console.

Three Xvfb displays (pynput sees every key on its display, so one agent each),
three real agent processes, the real hub, and the console in Chromium.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.support.agentproc import RunningAgent, start_agent
from tests.support.hub import RunningHub, query
from tests.support.xserver import XServer, wait_for_window

pytestmark = pytest.mark.e2e

POPUP = "^Stiller Alarm"


def windows(x: XServer, name_regex: str) -> list[str]:
    found = x.xdotool("search", "--name", name_regex, check=False)
    return found.stdout.split()


def test_hotkey_reaches_neighbour_popup_and_console_but_not_a_far_room(
    demo_hub: RunningHub,
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
    logged_in_page: Page,
) -> None:
    page = logged_in_page
    raiser_x, neighbour_x, far_x = xservers(), xservers(), xservers()
    raiser = start_agent(demo_hub.agent_config_path("pc-1-01"), raiser_x)  # room 1.01
    neighbour = start_agent(demo_hub.agent_config_path("pc-1-02"), neighbour_x)  # room 1.02
    far = start_agent(demo_hub.agent_config_path("pc-1-04"), far_x)  # room 1.04, not adjacent
    agents += [raiser, neighbour, far]
    for agent in agents:
        agent.wait_for_log("connected to hub")
        agent.wait_for_log("hotkey listening")

    popup_after: dict[str, float] = {}

    def watch_popup() -> None:
        wait_for_window(neighbour_x.display, "^Stiller Alarm – Raum 1.01$", timeout=5)
        popup_after["s"] = time.monotonic() - pressed

    watcher = threading.Thread(target=watch_popup)
    pressed = time.monotonic()
    raiser_x.xdotool("key", "ctrl+alt+p")
    watcher.start()
    # wait_for_selector checks on every animation frame; expect() polls at 100 ms and up.
    page.wait_for_selector("[data-testid=alarm-row]", timeout=5000)
    console_after = time.monotonic() - pressed
    row = page.get_by_test_id("alarm-row")
    expect(row).to_have_count(1)
    watcher.join(10)
    assert "s" in popup_after, "the neighbour's popup did not appear within 5 s"

    expect(row.get_by_test_id("room")).to_contain_text("1.01")
    expect(row.get_by_test_id("room")).to_contain_text("Beratung 1")
    expect(row.get_by_test_id("raiser")).to_contain_text("Frau Albers")
    alarm_id = row.get_attribute("data-alarm-id")
    assert alarm_id

    # The far room was never a recipient, so its screen stays empty.
    recipients = query(
        demo_hub, "SELECT workstation_id FROM alarm_recipients WHERE alarm_id = ?", alarm_id
    )
    assert ("pc-1-04",) not in recipients
    assert ("pc-1-02",) in recipients
    assert windows(far_x, POPUP) == []
    assert "popup shown" not in far.log()
    # No popup on the raiser's screen for the visitor; only the raiser's own discreet
    # notice window ("Stiller Alarm – Rückmeldung", issue 13) may be there.
    notice = set(windows(raiser_x, "^Stiller Alarm – Rückmeldung$"))
    assert [w for w in windows(raiser_x, POPUP) if w not in notice] == []

    neighbour.wait_for_log(f"popup shown {alarm_id}")
    popup = wait_for_window(neighbour_x.display, "^Stiller Alarm – Raum 1.01$")
    neighbour_x.xdotool("windowfocus", "--sync", str(popup))
    neighbour_x.xdotool("key", "alt+i")  # "&Ich komme"
    expect(row.get_by_test_id("responder")).to_contain_text("Herr Becker", timeout=5000)
    raiser.wait_for_log(r"tray status coming \(1\)")

    print(
        f"\nhotkey -> neighbour popup: {popup_after['s'] * 1000:.0f} ms"
        f"\nhotkey -> guard console:   {console_after * 1000:.0f} ms"
    )
