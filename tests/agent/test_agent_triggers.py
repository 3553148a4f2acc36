"""Triggers and managed-PC conventions with the real agent on Xvfb and the real hub.

Both chords, tray double-click, the policy's countdown (cancelled: nothing
sent) and cancel window (the hub marks the alarm cancelled), single-instance
forwarding of ``trigger``/``status``/``run``, and a policy file beating the
user's config. What the hub stored is read from its SQLite file.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.agentproc import RunningAgent, start_agent
from tests.support.hub import RunningHub
from tests.support.operators import ADMIN, API, add_operator, api_client
from tests.support.waiting import wait_until
from tests.support.xserver import XServer, agent_windows_without_title, wait_for_window

RAISER = "pc-1-01"


def agent_config(tmp_path: Path, hub: RunningHub, **extra: Any) -> Path:
    """The demo hub's config for the raiser's PC with its own folders and extra keys."""
    values = hub.agent_config(RAISER)
    values.update(
        data_dir=str(tmp_path / "agent" / "data"), log_dir=str(tmp_path / "agent" / "log")
    )
    values.update(extra)
    path = tmp_path / "agent" / "agent.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    # JSON scalars, strings and lists are valid TOML values.
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()), "utf-8")
    return path


def launch(x: XServer, config: Path, agents: list[RunningAgent]) -> RunningAgent:
    agent = start_agent(config, x)
    agents.append(agent)
    agent.wait_for_log(r"tray icon shown \(tray host available: True\)")
    agent.wait_for_log("agent running as workstation")  # after the hotkey started (or failed)
    return agent


def hub_alarms(hub: RunningHub) -> list[tuple[int, str, str]]:
    """(level, trigger, state) of the raiser's real alarms, as the hub committed them."""
    path = hub.data_dir / "dispatch.sqlite3"
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        rows = connection.execute(
            "SELECT level, trigger, state FROM alarms"
            " WHERE workstation_id = ? AND kind = 'alarm' ORDER BY stored_at",
            (RAISER,),
        )
        return [(int(level), str(trigger), str(state)) for level, trigger, state in rows]
    finally:
        connection.close()


def cli(
    x: XServer, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        env=env or x.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def tray_icon(x: XServer) -> str:
    def find() -> str | None:
        ids = agent_windows_without_title(x)  # not the raiser's notice window (issue 13)
        return ids[0] if ids else None

    return wait_until(find, 5.0, what="tray icon window")


def set_policy(hub: RunningHub, level: int, **values: Any) -> None:
    add_operator(hub, *ADMIN, "admin")
    body = {"scopes": ["neighbours", "security"], "escalation": [], "cancel_window_s": 30}
    body.update(values)
    with api_client(hub, *ADMIN) as admin:
        response = admin.put(f"{API}/sites/1/policies/{level}", json=body)
        assert response.status_code == 200, response.text


def test_both_chords_raise_their_levels_at_the_hub(
    demo_hub: RunningHub,
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
    tmp_path: Path,
) -> None:
    x = xservers()
    agent = launch(x, agent_config(tmp_path, demo_hub), agents)
    agent.wait_for_log(r"hotkey listening for ctrl\+alt\+p, ctrl\+alt\+shift\+p \(pynput\)")
    agent.wait_for_log("connected to hub")

    x.xdotool("key", "ctrl+alt+p")
    wait_until(lambda: hub_alarms(demo_hub) == [(2, "hotkey", "active")], 5, what="level 2")
    x.xdotool("type", "--delay", "1", "Passwort")  # typing in between fires nothing
    x.xdotool("key", "ctrl+alt+shift+p")
    wait_until(lambda: len(hub_alarms(demo_hub)) == 2, 5, what="second alarm")
    assert hub_alarms(demo_hub)[1] == (3, "hotkey", "active")
    assert "Passwort" not in agent.log()


def test_the_danger_chord_can_be_switched_off_and_by_default_a_single_click_raises_nothing(
    demo_hub: RunningHub,
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
    tmp_path: Path,
) -> None:
    x = xservers()
    config = agent_config(tmp_path, demo_hub, hotkey_danger="")  # tray_click: the default
    agent = launch(x, config, agents)
    agent.wait_for_log(r"hotkey listening for ctrl\+alt\+p \(pynput\)")
    agent.wait_for_log("connected to hub")
    icon = tray_icon(x)
    x.xdotool("mousemove", "--window", icon, "5", "5", "click", "1")  # one (accidental) click
    x.xdotool("key", "ctrl+alt+shift+p")  # with shift held ctrl+alt+p still matches
    wait_until(lambda: len(hub_alarms(demo_hub)) == 1, 5, what="ctrl+alt+p despite shift")
    x.xdotool(
        "mousemove", "--window", icon, "5", "5", "click", "--repeat", "2", "--delay", "80", "1"
    )
    wait_until(lambda: len(hub_alarms(demo_hub)) == 2, 5, what="alarm by double-click")
    # The single click came first on the same (Qt) thread: had it raised, its alarm
    # would have been queued before the double click's. Exactly one tray alarm was.
    agent.wait_for_log(r"alarm queued .* trigger=tray")
    assert len(re.findall(r"alarm queued .* trigger=tray", agent.log())) == 1
    assert hub_alarms(demo_hub) == [(2, "hotkey", "active"), (2, "tray", "active")]


def test_countdown_cancelled_sends_nothing(
    demo_hub: RunningHub,
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
    tmp_path: Path,
) -> None:
    set_policy(demo_hub, 2, countdown_s=2)
    x = xservers()
    agent = launch(x, agent_config(tmp_path, demo_hub), agents)
    agent.wait_for_log(r"policy: countdown L1=0s, L2=2s, L3=0s")

    x.xdotool("key", "ctrl+alt+p")
    window = wait_for_window(x.display, "^Stiller Alarm – Countdown$", 5.0)
    agent.wait_for_log("countdown started: level=2")
    x.xdotool("windowfocus", "--sync", str(window))
    x.xdotool("key", "Escape")
    agent.wait_for_log("countdown cancelled: nothing sent")
    assert agent.pending() == []

    # The next press runs its countdown out. Had the first not been cancelled,
    # its earlier deadline would have put it at the hub before this one.
    x.xdotool("key", "ctrl+alt+p")
    agent.wait_for_log("countdown started: level=2")
    stored = agent.wait_for_log(r"alarm stored ", timeout=10)
    assert hub_alarms(demo_hub) == [(2, "hotkey", "active")]
    assert agent.log().count("alarm queued") == 1
    assert stored


def test_cancel_from_the_tray_menu_withdraws_the_alarm_at_the_hub(
    demo_hub: RunningHub,
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
    tmp_path: Path,
) -> None:
    x = xservers()
    agent = launch(x, agent_config(tmp_path, demo_hub), agents)
    agent.wait_for_log("connected to hub")
    x.xdotool("key", "ctrl+alt+p")
    agent.wait_for_log(r"cancel window open .*: 30 s")
    open_tray_menu(x)
    x.xdotool("key", "Down", "Return")  # the first entry: "Alarm zurücknehmen (noch … s)"
    agent.wait_for_log("alarm withdrawn by the raiser")
    agent.wait_for_log("cancel sent")
    wait_until(lambda: hub_alarms(demo_hub) == [(2, "hotkey", "cancelled")], 5, what="cancelled")


def open_tray_menu(x: XServer) -> None:
    """Right-clicks the tray icon and waits until its menu is on screen."""
    x.xdotool("mousemove", "--window", tray_icon(x), "5", "5", "click", "3")

    def menu_open() -> bool:
        return len(agent_windows_without_title(x)) >= 2  # the icon plus the popup menu

    wait_until(menu_open, 5, what="tray menu")


def test_single_instance_forwards_trigger_and_status(
    demo_hub: RunningHub,
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
    tmp_path: Path,
) -> None:
    x = xservers()
    config = agent_config(tmp_path, demo_hub)
    agent = launch(x, config, agents)
    agent.wait_for_log("connected to hub")
    agent.wait_for_log("listening for local commands")

    second = cli(x, "run", "--config", str(config))
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines() == [
        "silent-alarm-agent: Stiller Alarm läuft bereits."
    ]

    status = cli(x, "status", "--config", str(config))
    assert status.returncode == 0, status.stdout + status.stderr
    assert "Verbunden: ja" in status.stdout
    assert "Geschützt: ja" in status.stdout

    forwarded = cli(x, "trigger", "--level", "3", "--config", str(config))
    assert forwarded.returncode == 0, forwarded.stderr
    assert hub_alarms(demo_hub) == [(3, "cli", "active")]
    agent.wait_for_log("local command trigger")
    agent.wait_for_log(r"alarm queued .* level=3 trigger=cli")  # raised by the running agent
    trigger_log = tmp_path / "agent" / "log" / "trigger.log"
    assert "alarm queued" not in (trigger_log.read_text() if trigger_log.exists() else "")

    shown = cli(x, "show", "--config", str(config))
    assert shown.returncode == 0
    wait_for_window(x.display, "^Stiller Alarm – Status$", 5.0)

    demo_hub.stop()  # no hub: not protected
    agent.wait_for_log("disconnected from hub")
    unprotected = cli(x, "status", "--config", str(config))
    assert unprotected.returncode == 1
    assert "Geschützt: NEIN" in unprotected.stdout
    assert agent.stop() == 0
    stopped = cli(x, "status", "--config", str(config))
    assert stopped.returncode == 1
    assert "läuft nicht" in stopped.stdout


def test_policy_beats_the_user_file_and_is_reported_locked(
    demo_hub: RunningHub,
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("hotkey_level = 3\n", encoding="utf-8")
    machine = tmp_path / "agent.d"
    machine.mkdir()
    (machine / "site.toml").write_text('hotkey_level = 2\nhotkey_danger = ""\n', encoding="utf-8")
    # start_agent and the CLI inherit these through XServer.env().
    monkeypatch.setenv("SILENT_ALARM_AGENT_POLICY", str(policy))
    monkeypatch.setenv("SILENT_ALARM_AGENT_MACHINE_CONFIG", str(machine))
    x = xservers()
    config = agent_config(tmp_path, demo_hub, hotkey_level=1)
    agent = launch(x, config, agents)
    agent.wait_for_log(r"hotkey listening for ctrl\+alt\+p \(pynput\)")  # machine file: no 2nd
    agent.wait_for_log("connected to hub")
    x.xdotool("key", "ctrl+alt+p")
    wait_until(lambda: hub_alarms(demo_hub) == [(3, "hotkey", "active")], 5, what="level 3")

    status = cli(x, "status", "--config", str(config))
    assert status.returncode == 0, status.stdout
    assert "Per Richtlinie festgelegt: hotkey_level" in status.stdout
