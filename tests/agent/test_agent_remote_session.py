"""The real agent in a terminal server's session (issue 19), on Xvfb against the real hub.

The session is xrdp's as its session manager leaves it (``XRDP_SESSION``) with the
client's name in ``CLIENTNAME``, as Windows sets it and an admin's ``startwm.sh``
can. The terminal server ``rds-01`` is placed in room 1.05 and the client THIN-02 in
1.02: the agent must show 1.02 and its alarm must be routed there, never by 1.05.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support.agentproc import RunningAgent, start_agent, write_agent_config
from tests.support.hub import RunningHub, query
from tests.support.waiting import wait_until
from tests.support.xserver import XServer, wait_for_window

HOST = "rds-01"
NEIGHBOUR_POPUP = "^Stiller Alarm – Raum 1.02$"


def session_env(client: str | None) -> dict[str, str]:
    env = {"XRDP_SESSION": "4711"}
    if client is not None:
        env["CLIENTNAME"] = client
    return env


def agent_status(config: Path, x: XServer, env: dict[str, str]) -> str:
    """``silent-alarm-agent status`` run in the same session: it reaches that session's agent."""
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "status", "--config", str(config)],
        env=x.env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout


def test_a_session_shows_and_raises_for_its_clients_room(
    demo_hub: RunningHub,
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
    tmp_path: Path,
) -> None:
    added = demo_hub.cli("workstation", "add", HOST, "--room", "1.05")
    assert added.returncode == 0, added.stderr
    mapped = demo_hub.cli("workstation", "add-client", "THIN-02", "--room", "1.02")
    assert mapped.returncode == 0, mapped.stderr
    base = demo_hub.agent_config("pc-1-01")
    config = write_agent_config(
        tmp_path / "rds" / "agent.toml",
        hub_urls=base["hub_urls"],
        workstation_id=HOST,
        token=added.stdout.strip(),
        user="Frau Sitzung",
        hotkey="ctrl+alt+p",
        hotkey_level=2,
        language="de",
    )
    session_x, neighbour_x = xservers(), xservers()
    session = start_agent(config, session_x, env=session_env("THIN-02"))
    neighbour = start_agent(demo_hub.agent_config_path("pc-1-03"), neighbour_x)
    agents += [session, neighbour]
    session.wait_for_log(r"connected to hub .* room 1\.02")
    session.wait_for_log("hotkey listening")
    neighbour.wait_for_log("hotkey listening")
    status = agent_status(config, session_x, session_env("THIN-02"))
    assert "Raum 1.02 – Beratung 2, 1. OG (Sitzung von THIN-02)" in status, status
    assert "Geschützt: ja" in status, status
    # Its own outbox and lock, under the session's folder of the data_dir.
    assert (tmp_path / "rds" / "data" / "session-THIN-02").is_dir()

    session_x.xdotool("key", "ctrl+alt+p")
    wait_for_window(neighbour_x.display, NEIGHBOUR_POPUP, 5.0)
    stored = session.wait_for_log(r"alarm stored ")
    alarm_id = stored.split("alarm stored ")[1].split()[0]
    [(workstation, room)] = query(
        demo_hub,
        "SELECT a.workstation_id, r.number FROM alarms a JOIN rooms r ON r.id = a.room_id"
        " WHERE a.id = ?",
        alarm_id,
    )
    assert (workstation, room) == ("THIN-02", "1.02")
    recipients = {
        str(row[0])
        for row in query(
            demo_hub, "SELECT workstation_id FROM alarm_recipients WHERE alarm_id = ?", alarm_id
        )
    }
    assert recipients == {"pc-1-01", "pc-1-03", "pc-e-01"}  # 1.02's neighbours, not 1.05's
    assert session.stop() == 0
    assert added.stdout.strip() not in session.log()  # the host's secret is never logged


def test_a_session_without_a_client_name_says_so_and_never_connects(
    xservers: Callable[..., XServer], agents: list[RunningAgent], tmp_path: Path
) -> None:
    # A hub is not needed: the agent must not even try (it would be taken for the host).
    config = write_agent_config(
        tmp_path / "nameless" / "agent.toml",
        hub_urls=["ws://127.0.0.1:9/ws/agent"],
        workstation_id="pc-1-05",
        token="tok-nameless-secret",
        language="de",
    )
    x = xservers()
    agent = start_agent(config, x, env=session_env(None))
    agents.append(agent)
    agent.wait_for_log("remote session without a client name: not connecting")
    agent.wait_for_log("protection: session_unmapped")

    def unprotected_status() -> str | None:
        shown = agent_status(config, x, session_env(None))
        return shown if "NEIN" in shown else None

    status = wait_until(
        unprotected_status,
        20.0,
        interval=0.5,  # each probe starts a process
        what="the status of the running agent",
    )
    assert "Nicht geschützt: Raum für diese Remote-Sitzung unbekannt" in status, status
    assert "Verbunden: nein" in status, status
    assert "keine Verbindung zur Alarmzentrale" not in status  # the session says why
    # A link would have tried port 9 at once (and logged it) long before the status came.
    assert "unreachable" not in agent.log()
    assert "reconnecting in" not in agent.log()
    assert agent.stop() == 0
