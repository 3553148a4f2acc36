"""Issue 16 at person level: a duress cancel looks like a withdrawal to the raiser and staff.

Three Xvfb displays with real agents (raiser 1.01, neighbour 1.02, security E.01),
the real hub and the guard's console in Chromium. The raiser withdraws one alarm
from the tray menu (a normal withdrawal) and then another with the duress chord,
which a policy file sets; what the raiser's screen and log show afterwards must
be the same for both, the neighbour's popup closes as withdrawn both times, while
security's popup turns level 3 and the console marks the alarm.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.agent.test_agent_triggers import open_tray_menu
from tests.console.conftest import row_of
from tests.support.agentproc import RunningAgent, start_agent
from tests.support.hub import RunningHub, query
from tests.support.waiting import wait_until
from tests.support.xserver import XServer, agent_windows_without_title

pytestmark = pytest.mark.e2e

DURESS_CHORD = "ctrl+alt+shift+z"
POPUP_1_01 = "^Stiller Alarm – Raum 1.01$"
ALARM_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CLOCK = re.compile(r"\b\d\d:\d\d(:\d\d)?([.,]\d+)?\b")


def visible_windows(x: XServer) -> list[tuple[str, str]]:
    """Every visible named window on the display with its size, sorted: what one sees."""
    found = x.xdotool("search", "--onlyvisible", "--name", ".", check=False).stdout.split()
    shown = []
    for window in found:
        name = x.xdotool("getwindowname", window, check=False).stdout.strip()
        size = x.xdotool("getwindowgeometry", window, check=False).stdout
        shown.append((name, " ".join(line.strip() for line in size.splitlines()[1:])))
    return sorted(shown)


def masked(lines: list[str]) -> list[str]:
    """Log lines without their time stamps and alarm ids, to compare two withdrawals."""
    return [CLOCK.sub("T", ALARM_ID.sub("ID", line)) for line in lines]


def raise_and_wait(raiser_x: XServer, raiser: RunningAgent, others: list[RunningAgent]) -> str:
    """Strg+Alt+P on the raiser's display; the alarm's id once both popups are up."""
    since = [agent.log_size() for agent in (raiser, *others)]
    raiser_x.xdotool("key", "ctrl+alt+p")
    line = raiser.wait_for_log(r"cancel window open \S+: 30 s", timeout=10, since=since[0])
    alarm_id = line.split("cancel window open ", 1)[1].split(":")[0]
    for agent, offset in zip(others, since[1:], strict=True):
        agent.wait_for_log(f"popup shown {alarm_id}", timeout=10, since=offset)
    # The raiser's notice has said "zugestellt": the withdrawal starts from a settled screen.
    raiser.wait_for_log(f"raiser notice {alarm_id} delivered: ", timeout=10, since=since[0])
    raiser.wait_for_log("tray status delivered", timeout=10, since=since[0])
    return alarm_id


def withdrawn_screen(
    raiser_x: XServer, raiser: RunningAgent, alarm_id: str, since: int
) -> tuple[list[tuple[str, str]], list[str]]:
    """The raiser's screen and log lines once the withdrawal has settled."""
    raiser.wait_for_log(f"raiser notice {alarm_id} resolved: ", timeout=10, since=since)
    raiser.wait_for_log("tray status resolved", timeout=10, since=since)
    # The tray menu (if it was used) has closed: only the icon is left untitled.
    wait_until(lambda: len(agent_windows_without_title(raiser_x)) == 1, 5, what="menu closed")
    lines = raiser.log()[since:].splitlines()
    # From the withdrawal on: a late line of the alarm's delivery is not the withdrawal's.
    first = next(i for i, line in enumerate(lines) if "alarm withdrawn by the raiser" in line)
    return visible_windows(raiser_x), masked(lines[first:])


def test_a_duress_cancel_looks_like_a_withdrawal_but_security_keeps_it_at_level_3(
    demo_hub: RunningHub,
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
    logged_in_page: Page,
    tmp_path: Path,
) -> None:
    page = logged_in_page
    policy = tmp_path / "policy.toml"  # the site's policy enables the chord on this PC
    policy.write_text(f'hotkey_duress = "{DURESS_CHORD}"\n', encoding="utf-8")
    raiser_x, neighbour_x, security_x = xservers(), xservers(), xservers()
    raiser = start_agent(
        demo_hub.agent_config_path("pc-1-01"),
        raiser_x,
        env={"SILENT_ALARM_AGENT_POLICY": str(policy)},
    )
    neighbour = start_agent(demo_hub.agent_config_path("pc-1-02"), neighbour_x)
    security = start_agent(demo_hub.agent_config_path("pc-e-01"), security_x)
    agents += [raiser, neighbour, security]
    for agent in agents:
        agent.wait_for_log("connected to hub", timeout=20)
    raiser.wait_for_log("hotkey listening for ctrl.alt.p, ctrl.alt.shift.p, ctrl.alt.shift.z")

    # A normal withdrawal from the tray menu.
    normal = raise_and_wait(raiser_x, raiser, [neighbour, security])
    since = [agent.log_size() for agent in agents]
    open_tray_menu(raiser_x)
    raiser_x.xdotool("key", "Down", "Return")  # the first entry: "Alarm zurücknehmen (noch … s)"
    normal_screen, normal_log = withdrawn_screen(raiser_x, raiser, normal, since[0])
    normal_all_clear = neighbour.wait_for_log(
        f"all clear shown {normal} cancelled: ", since=since[1]
    )
    security.wait_for_log(f"all clear shown {normal} cancelled: ", since=since[2])

    # The duress chord, on the next alarm.
    forced = raise_and_wait(raiser_x, raiser, [neighbour, security])
    since = [agent.log_size() for agent in agents]
    raiser_x.xdotool("key", DURESS_CHORD)
    forced_screen, forced_log = withdrawn_screen(raiser_x, raiser, forced, since[0])

    # The raiser's screen and log say exactly what the normal withdrawal said.
    assert forced_screen == normal_screen
    assert forced_log == normal_log
    assert "alarm withdrawn by the raiser" in "\n".join(forced_log)
    assert not re.search("duress|zwang", raiser.log(), re.IGNORECASE)

    # The neighbour's popup closes with the same all-clear.
    forced_all_clear = neighbour.wait_for_log(
        f"all clear shown {forced} cancelled: ", since=since[1]
    )
    assert masked([forced_all_clear]) == masked([normal_all_clear])
    wait_until(
        lambda: (
            not neighbour_x.xdotool(
                "search", "--onlyvisible", "--name", POPUP_1_01, check=False
            ).stdout.split()
        ),
        5,
        what="the neighbour's popup closed",
    )

    # Security's popup is shown anew at level 3, with the room and the police instruction.
    popup = security.wait_for_log(f"popup text {forced}: ", timeout=10, since=since[2])
    assert "Gefahr / Amok" in popup
    assert "Polizei (110)" in popup
    assert "Raum 1.01" in popup
    assert f"all clear shown {forced}" not in security.log()

    # The guard's console: still open, level 3, marked.
    row = row_of(page, forced)
    expect(row).to_have_attribute("data-level", "3", timeout=10000)
    expect(row).to_have_attribute("data-state", "active")
    expect(row.get_by_test_id("duress")).to_have_text("unter Zwang zurückgenommen")
    expect(row.get_by_test_id("duress")).to_be_visible()

    # The store: open, level 3, marked.
    assert query(
        demo_hub,
        "SELECT state, level, cancelled_under_duress_at IS NOT NULL FROM alarms WHERE id = ?",
        forced,
    ) == [("active", 3, 1)]
    assert query(demo_hub, "SELECT state FROM alarms WHERE id = ?", normal) == [("cancelled",)]
