"""The tray menu's "Übungsalarm auslösen" on a real agent on Xvfb, against the real hub.

With a drill scheduled the hub stores a level-2 drill raised from the tray; without
one the hub refuses it and the raiser sees why. Neither touches the tray icon.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from shared.domain import AlarmKind
from tests.agent.test_agent_triggers import agent_config, launch, open_tray_menu
from tests.integration.test_alarm_kinds import schedule_drill
from tests.support.agentproc import RunningAgent
from tests.support.hub import RunningHub, query
from tests.support.waiting import wait_until
from tests.support.xserver import XServer, wait_for_window

DRILL_WINDOW = "^Stiller Alarm – Übungsalarm$"


def choose_drill_from_the_menu(x: XServer, agent: RunningAgent) -> None:
    open_tray_menu(x)
    x.xdotool("key", "Up", "Return")  # Up from the top wraps to the last entry: the drill


def drills(hub: RunningHub) -> list[tuple[object, ...]]:
    return query(
        hub,
        "SELECT level, trigger, drill_id FROM alarms WHERE kind = 'drill' AND workstation_id = ?",
        "pc-1-01",
    )


def test_a_drill_from_the_tray_is_stored_as_a_level_2_drill(
    demo_hub: RunningHub,
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
    tmp_path: Path,
) -> None:
    drill_id = schedule_drill(demo_hub, '["security"]')
    x = xservers()
    agent = launch(x, agent_config(tmp_path, demo_hub), agents)
    agent.wait_for_log("connected to hub")
    choose_drill_from_the_menu(x, agent)
    wait_until(lambda: drills(demo_hub) == [(2, "tray", drill_id)], 5, what="drill stored")
    wait_for_window(x.display, DRILL_WINDOW)
    agent.wait_for_log("drill window: ÜBUNG – Übungsalarm angekommen. Kein Ernstfall.")
    assert query(demo_hub, "SELECT count(*) FROM alarms WHERE kind = 'alarm'") == [(0,)]
    assert "tray status sent" not in agent.log()  # the icon stays about real alarms


def test_a_drill_from_the_tray_without_a_scheduled_drill_tells_the_user(
    demo_hub: RunningHub,
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
    tmp_path: Path,
) -> None:
    x = xservers()
    agent = launch(x, agent_config(tmp_path, demo_hub), agents)
    agent.wait_for_log("connected to hub")
    choose_drill_from_the_menu(x, agent)
    agent.wait_for_log(r"drill .* refused by the hub")
    wait_for_window(x.display, DRILL_WINDOW)
    agent.wait_for_log("drill window: Keine Übung geplant – Übungsalarm nicht gesendet")
    assert drills(demo_hub) == []
    # Refused for good: dropped from the outbox, never retried.
    assert [a for a in agent.pending() if a.kind is AlarmKind.DRILL] == []
    assert "tray status sent" not in agent.log()
    assert "not_delivered" not in agent.log()
