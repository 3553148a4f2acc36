"""Issue 13 at person level: what the raiser's own screen says about their alarm.

Real agent processes on Xvfb (raiser and neighbour), the real hub, and for the
guard the console in Chromium. The raiser's notice window ("Stiller Alarm –
Rückmeldung") must be on screen (xdotool), and the agent logs each state change.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from shared.domain import Answer
from shared.protocol import AlarmNotify, Respond
from tests.console.conftest import row_of
from tests.integration.conftest import set_policy
from tests.support.agentproc import RunningAgent, start_agent
from tests.support.hub import RunningHub
from tests.support.syncclient import TestAgent
from tests.support.xserver import XServer, wait_for_window

pytestmark = pytest.mark.e2e

NOTICE = "^Stiller Alarm – Rückmeldung$"
POPUP_1_01 = "^Stiller Alarm – Raum 1.01$"
NOBODY = r"Niemand erreicht – bitte telefonisch Hilfe holen \(110\)"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def policy(hub: RunningHub, level: int, scopes: list[str], nobody_reached_s: int,
           raiser_feedback: str = "count") -> None:  # fmt: skip
    set_policy(hub.data_dir, level, scopes, [], raiser_feedback=raiser_feedback)
    with sqlite3.connect(hub.data_dir / "dispatch.sqlite3") as db:
        db.execute(
            "UPDATE alarm_policies SET nobody_reached_s = ? WHERE site_id = 1 AND level = ?",
            (nobody_reached_s, level),
        )


def ready(*agents: RunningAgent) -> None:
    for agent in agents:
        agent.wait_for_log("connected to hub", timeout=20)
        agent.wait_for_log("hotkey listening", timeout=20)


def notice_says(raiser: RunningAgent, status: str, words: str, since: int = 0) -> str:
    """The raiser's logged notice line for a state; returns the alarm id it names."""
    line = raiser.wait_for_log(
        rf"raiser notice \S+ {status}: (ÜBUNG – )?Alarm \d\d:\d\d: {words}$",
        timeout=20,
        since=since,
    )
    return line.split("raiser notice ", 1)[1].split()[0]


def notice_on_screen(x: XServer) -> int:
    """The notice window is mapped on the raiser's display (not only logged)."""
    window = wait_for_window(x.display, NOTICE, timeout=10)
    visible = x.xdotool("search", "--onlyvisible", "--name", NOTICE, check=False).stdout.split()
    assert str(window) in visible, "the notice window exists but is not on screen"
    return window


def screenshot(x: XServer, name: str) -> None:
    """The raiser's whole screen as a PNG in test-artifacts/ (for docs/screenshots).

    Read with python-xlib (no ImageMagick here) and written with zlib: 32-bit BGRX
    pixels of Xvfb's 24-bit screen become RGB rows.
    """
    from Xlib import X, display

    screen = display.Display(x.display)
    try:
        root = screen.screen().root
        geometry = root.get_geometry()
        width, height = geometry.width, geometry.height
        raw = root.get_image(0, 0, width, height, X.ZPixmap, 0xFFFFFFFF).data
    finally:
        screen.close()
    assert isinstance(raw, bytes | bytearray)
    rows = bytearray()
    for y in range(height):
        line = raw[y * width * 4 : (y + 1) * width * 4]
        rgb = bytearray(width * 3)
        rgb[0::3], rgb[1::3], rgb[2::3] = line[2::4], line[1::4], line[0::4]
        rows += b"\x00" + rgb

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / name).write_bytes(png + chunk(b"IEND", b""))


def answer_popup(x: XServer, key: str, known: set[str]) -> set[str]:
    """Answers the newest "Raum 1.01" popup on the neighbour's screen by its accelerator."""
    wait_for_window(x.display, POPUP_1_01, timeout=10)
    found = set(x.xdotool("search", "--name", POPUP_1_01, check=False).stdout.split())
    new = sorted(found - known) or sorted(found)
    x.xdotool("windowfocus", "--sync", new[-1])
    x.xdotool("key", key)
    return found


def trigger(raiser_config: Path, level: int) -> None:
    """``silent-alarm-agent trigger --level N``: goes through the running agent."""
    env = {**os.environ, "SILENT_ALARM_AGENT_CONFIG": str(raiser_config)}
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "trigger", "--level", str(level)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_nobody_online_the_raiser_sees_nobody_reached(
    demo_hub: RunningHub, xservers: Callable[..., XServer], agents: list[RunningAgent]
) -> None:
    policy(demo_hub, 2, ["neighbours", "security"], nobody_reached_s=2)
    raiser_x = xservers()
    raiser = start_agent(demo_hub.agent_config_path("pc-1-01"), raiser_x)
    agents.append(raiser)
    ready(raiser)
    raiser_x.xdotool("key", "ctrl+alt+p")
    notice_says(raiser, "nobody_reached", NOBODY)
    notice_on_screen(raiser_x)
    raiser.wait_for_log("tray status nobody_reached")
    screenshot(raiser_x, "raiser-nobody-reached.png")


def test_every_recipient_says_cannot_the_raiser_sees_nobody_reached(
    demo_hub: RunningHub, xservers: Callable[..., XServer], agents: list[RunningAgent]
) -> None:
    # Only the neighbour (no security, set straight in the store): one "Kann nicht" is all.
    policy(demo_hub, 2, ["neighbours"], nobody_reached_s=120)
    raiser_x, neighbour_x = xservers(), xservers()
    raiser = start_agent(demo_hub.agent_config_path("pc-1-01"), raiser_x)
    neighbour = start_agent(demo_hub.agent_config_path("pc-1-02"), neighbour_x)
    agents += [raiser, neighbour]
    ready(raiser, neighbour)
    raiser_x.xdotool("key", "ctrl+alt+p")
    neighbour.wait_for_log("popup shown", timeout=20)
    answer_popup(neighbour_x, "alt+k", set())  # "&Kann nicht"
    notice_says(raiser, "nobody_reached", NOBODY)
    notice_on_screen(raiser_x)


def test_help_on_the_way_coming_names_security_and_arrived(
    demo_hub: RunningHub,
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
    logged_in_page: Page,
) -> None:
    page = logged_in_page
    policy(demo_hub, 2, ["neighbours", "security"], nobody_reached_s=60)  # count (default)
    policy(demo_hub, 1, ["neighbours", "security"], nobody_reached_s=60, raiser_feedback="names")
    raiser_x, neighbour_x = xservers(), xservers()
    raiser_config = demo_hub.agent_config_path("pc-1-01")
    raiser = start_agent(raiser_config, raiser_x)
    neighbour = start_agent(demo_hub.agent_config_path("pc-1-02"), neighbour_x)
    agents += [raiser, neighbour]
    ready(raiser, neighbour)

    # Level 2, "count": the neighbour's popup answered "Ich komme" -> "1 kommt".
    raiser_x.xdotool("key", "ctrl+alt+p")
    neighbour.wait_for_log("popup shown", timeout=20)
    answer_popup(neighbour_x, "alt+i", set())  # "&Ich komme"
    alarm = notice_says(raiser, "coming", "1 kommt")
    notice_on_screen(raiser_x)
    screenshot(raiser_x, "raiser-coming.png")

    # The guard takes it in Chromium -> "Sicherheitsdienst hat übernommen".
    row = row_of(page, alarm)
    row.get_by_role("button", name="Quittieren").click()
    notice_says(raiser, "acknowledged", "Sicherheitsdienst hat übernommen · 1 kommt")
    # ... and confirms help is there -> "Hilfe ist da".
    row.get_by_role("button", name="Eingetroffen").click()
    notice_says(raiser, "arrived", "Hilfe ist da")
    notice_on_screen(raiser_x)

    # Level 1 with the "names" policy: the name of who is coming.
    since, seen_before = raiser.log_size(), neighbour.log_size()
    trigger(raiser_config, 1)
    neighbour.wait_for_log("popup shown", timeout=20, since=seen_before)
    # One popup per raiser (issue 15): the neighbour is on the way to this raiser already,
    # so the new, lower-level alarm joins that popup and is answered "Ich komme" with it.
    wait_for_window(neighbour_x.display, r"^Stiller Alarm – Raum 1\.01 \(2 Alarme\)$", 10)
    named = notice_says(raiser, "coming", "Kommt: Herr Becker", since=since)
    assert named != alarm

    # Level 3: colleagues must not come; security's acknowledgement is the reassurance.
    since = raiser.log_size()
    trigger(raiser_config, 3)
    danger = raiser.wait_for_log(r"raiser notice \S+ sent", timeout=20, since=since)
    danger_id = danger.split("raiser notice ", 1)[1].split()[0]
    row_of(page, danger_id).get_by_role("button", name="Quittieren").click()
    notice_says(raiser, "acknowledged", "Sicherheitsdienst hat übernommen", since=since)
    window = notice_on_screen(raiser_x)
    assert window
    screenshot(raiser_x, "raiser-notice.png")
    expect(row_of(page, danger_id)).to_be_visible()


def test_wait_for_help_through_the_running_agent(
    demo_hub: RunningHub, xservers: Callable[..., XServer], agents: list[RunningAgent]
) -> None:
    """`trigger --wait-for-help` while the tray agent runs: the agent raises the alarm (its
    notice shows it), the CLI follows it on its own connection and exits 0 on "Ich komme"."""
    raiser_x = xservers()
    raiser_config = demo_hub.agent_config_path("pc-1-01")
    raiser = start_agent(raiser_config, raiser_x)
    agents.append(raiser)
    ready(raiser)
    neighbour = TestAgent(demo_hub, "pc-1-02")  # a stand-in: the raiser is the person here
    try:
        env = {**os.environ, "SILENT_ALARM_AGENT_CONFIG": str(raiser_config)}
        cli = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "trigger", "--wait-for-help", "60"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        notify = neighbour.expect(AlarmNotify, timeout=20)
        raiser.wait_for_log(rf"raiser notice {notify.alarm_id} ", timeout=20)  # the agent raised it
        neighbour.send(Respond(alarm_id=notify.alarm_id, answer=Answer.COMING))
        out, err = cli.communicate(timeout=60)
        assert cli.returncode == 0, err
        assert out.strip().splitlines() == ["Hilfe bestätigt: 1 kommt"]
        notice_says(raiser, "coming", "1 kommt")
        notice_on_screen(raiser_x)
    finally:
        neighbour.close()


def test_an_agent_killed_after_raising_tells_its_raiser_after_the_restart(
    demo_hub: RunningHub, xservers: Callable[..., XServer], agents: list[RunningAgent]
) -> None:
    """The agent crashes right after the alarm is stored; the restarted agent takes the
    alarm up from the hub's replay, and "nobody reached" still reaches its screen."""
    policy(demo_hub, 2, ["neighbours", "security"], nobody_reached_s=8)
    raiser_x = xservers()
    raiser_config = demo_hub.agent_config_path("pc-1-01")
    first = start_agent(raiser_config, raiser_x)
    agents.append(first)
    ready(first)
    raiser_x.xdotool("key", "ctrl+alt+p")
    first.wait_for_log("alarm stored ")
    first.kill()

    again = start_agent(raiser_config, raiser_x)
    agents.append(again)
    again.wait_for_log("connected to hub", timeout=20)
    line = again.wait_for_log(
        rf"raiser notice \S+ nobody_reached: Früherer Alarm: {NOBODY}$", timeout=30
    )
    assert line
    notice_on_screen(raiser_x)
