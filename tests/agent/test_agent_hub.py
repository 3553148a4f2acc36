"""Two real agents on two X displays against the real hub: hotkey and tray click to popup."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

from tests.support.agentproc import RunningAgent, start_agent
from tests.support.hub import RunningHub
from tests.support.waiting import wait_until
from tests.support.xserver import XServer, agent_windows_without_title, wait_for_window

NEIGHBOUR_POPUP = "^Stiller Alarm – Raum 1.01$"


def visible_windows(x: XServer, name_regex: str) -> list[str]:
    try:
        return x.xdotool("search", "--onlyvisible", "--name", name_regex).stdout.split()
    except subprocess.CalledProcessError:  # exit 1: nothing matches
        return []


def test_hotkey_and_tray_click_reach_the_neighbour(
    demo_hub: RunningHub,
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
) -> None:
    raiser_x, neighbour_x = xservers(), xservers()
    raiser = start_agent(demo_hub.agent_config_path("pc-1-01"), raiser_x)
    neighbour = start_agent(demo_hub.agent_config_path("pc-1-02"), neighbour_x)
    agents += [raiser, neighbour]
    for agent in (raiser, neighbour):
        agent.wait_for_log("connected to hub .* room 1.0")
        agent.wait_for_log(r"hotkey listening")

    pressed = time.monotonic()
    raiser_x.xdotool("key", "ctrl+alt+p")
    window = wait_for_window(neighbour_x.display, NEIGHBOUR_POPUP, 5.0)
    print(f"hotkey -> neighbour popup: {(time.monotonic() - pressed) * 1000:.0f} ms")
    stored = raiser.wait_for_log(r"alarm stored ")
    alarm_id = stored.split("alarm stored ")[1].split()[0]
    neighbour.wait_for_log(f"popup shown {alarm_id}")
    raiser.wait_for_log("tray status stored")
    assert raiser.pending() == []
    # The raiser's screen stays quiet: no popup, only its own notice (issue 13).
    notice = set(visible_windows(raiser_x, "^Stiller Alarm – Rückmeldung$"))
    assert [w for w in visible_windows(raiser_x, "^Stiller Alarm") if w not in notice] == []

    neighbour_x.xdotool("windowfocus", "--sync", str(window))
    neighbour_x.xdotool("key", "alt+i")
    neighbour.wait_for_log(f"answer sent {alarm_id} coming")
    raiser.wait_for_log(r"tray status coming \(1\)")
    neighbour_x.xdotool("windowfocus", "--sync", str(window))
    neighbour_x.xdotool("key", "alt+b")  # "Bin da": the popup that stayed closes
    neighbour.wait_for_log(f"answer sent {alarm_id} arrived")
    wait_until(lambda: not visible_windows(neighbour_x, NEIGHBOUR_POPUP), 5.0, what="closed")

    # The tray icon is the other way to raise it: a double click (tray_click's default).
    icon = agent_windows_without_title(raiser_x)[0]  # not the raiser's notice window
    raiser_x.xdotool(
        "mousemove", "--window", icon, "5", "5", "click", "--repeat", "2", "--delay", "80", "1"
    )
    # The first alarm is still open (help arrived, nobody resolved it): the raiser's popup
    # comes back counting both, asking about the new one (one popup per raiser, issue 15).
    wait_until(
        lambda: visible_windows(neighbour_x, r"^Stiller Alarm – Raum 1\.01 \(2 Alarme\)$"),
        5.0,
        what="second popup",
    )
    raiser.wait_for_log(r"alarm queued .* trigger=tray")
    assert raiser.stop() == 0
    assert neighbour.stop() == 0
    for agent in (raiser, neighbour):
        assert demo_hub.agent_config("pc-1-01")["token"] not in agent.log()
