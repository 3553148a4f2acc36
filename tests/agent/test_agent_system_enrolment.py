"""Enrolment by root for every user of a PC (issue 18), and an agent that cannot read its config.

Software distribution runs ``silent-alarm-agent enrol`` as root; the agent runs
at each login as that desktop user. The test runs as root, enrols into a scratch
/etc/silent-alarm (the .deb's policy file and agent.d/), and starts the real agent
as the unprivileged account ``nobody`` on Xvfb against a real hub.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections.abc import Callable

import pytest

from tests.support.agentproc import RunningAgent, agent_command_as, start_agent_as
from tests.support.commands import agent_cli
from tests.support.desktop_user import FOLDER_MODE, SHIPPED_POLICY, DesktopUser
from tests.support.hub import RunningHub
from tests.support.operators import ADMIN, API, add_operator, api_client
from tests.support.waiting import wait_until
from tests.support.xserver import XServer, wait_for_window

NOT_PROTECTED = "^Stiller Alarm – Nicht geschützt$"


@pytest.fixture
def hub(demo_hub: RunningHub) -> RunningHub:
    add_operator(demo_hub, *ADMIN, "admin")
    return demo_hub


def new_code(hub: RunningHub, **body: object) -> str:
    with api_client(hub, *ADMIN) as admin:
        response = admin.post(f"{API}/enrolment-codes", json={"site_id": 1, **body})
        assert response.status_code == 201, response.text
        code: str = response.json()["codes"][0]["code"]
        return code


def test_root_enrols_the_pc_and_the_agent_of_an_unprivileged_user_is_protected(
    hub: RunningHub,
    desktop_user: DesktopUser,
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
) -> None:
    user = desktop_user
    root_file = user.etc / "root-home" / "agent.toml"  # the wrapper's per-user file, for root
    code = new_code(hub, room_id=3)

    def enrol_as_root() -> subprocess.CompletedProcess[str]:
        return agent_cli(
            "enrol",
            "--hub",
            hub.url,
            "--code",
            code,
            "--hostname",
            "PC-88",
            env={**user.system_env(), "SILENT_ALARM_AGENT_CONFIG": str(root_file)},
        )

    # A machine folder the desktop users' agents could not read is refused before the
    # code is spent (a root umask of 077 makes such folders).
    os.chmod(user.machine_dir, 0o700)
    refused = enrol_as_root()
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        f"silent-alarm-agent: folder '{user.machine_dir}' is mode 0700: the agent of every user"
        " must read it (chmod 0755)"
    ]
    os.chmod(user.machine_dir, FOLDER_MODE)
    result = enrol_as_root()
    assert result.returncode == 0, result.stderr
    drop_in = user.machine_dir / "50-enrolment.toml"
    assert result.stdout.splitlines() == [
        f"enrolled as pc-88, active; config written to {drop_in}",
        "readable by every user of this PC (mode 0644): their agents read it",
    ]
    written = drop_in.stat()
    assert (written.st_uid, stat.S_IMODE(written.st_mode)) == (0, 0o644)
    assert os.listdir(user.machine_dir) == ["50-enrolment.toml"]  # no temporary left
    # The administrator's policy file (a conffile) is untouched: no --force was needed.
    assert user.policy_file.read_bytes() == SHIPPED_POLICY.read_bytes()
    assert not root_file.exists()

    x = xservers()
    agent = start_agent_as(user, x)
    agents.append(agent)
    agent.wait_for_log("connected to hub", timeout=20)
    # Protected end to end: the start-up self-test went through the hub and back.
    agent.wait_for_log("protection: protected", timeout=20)

    def protected_status() -> subprocess.CompletedProcess[str] | None:
        done = agent_command_as(user, x, "status")
        return done if done.returncode == 0 else None

    status = wait_until(protected_status, 20, what="status exit 0 as the desktop user")
    assert "Geschützt: ja" in status.stdout
    assert "Arbeitsplatz: pc-88" in status.stdout
    with api_client(hub, *ADMIN) as admin:
        coverage = admin.get(f"{API}/coverage").json()
    room = next(r for r in coverage["rooms"] if r["number"] == "1.02")
    pc = next(w for w in room["workstations"] if w["id"] == "pc-88")
    assert (pc["online"], pc["unprotected_reasons"]) == (True, [])
    assert agent.stop() == 0


@pytest.mark.parametrize("unreadable", ["file", "folder"])
def test_an_agent_that_cannot_read_its_config_says_so_on_screen(
    unreadable: str,
    desktop_user: DesktopUser,
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
) -> None:
    user = desktop_user
    # What enrol wrote before issue 18: the PC's identity, root's alone (or its folder).
    secret = user.machine_dir / "50-enrolment.toml"
    secret.write_text('workstation_id = "pc-1-01"\n', encoding="utf-8")
    os.chmod(secret, 0o600)
    if unreadable == "folder":
        os.chmod(secret, 0o644)
        os.chmod(user.machine_dir, 0o700)
    path = secret if unreadable == "file" else user.machine_dir
    error = (
        f"config file '{secret}' unreadable: Permission denied"
        if unreadable == "file"
        else f"machine config folder '{user.machine_dir}' unreadable: Permission denied"
    )

    x = xservers()
    agent = start_agent_as(user, x)
    agents.append(agent)
    wait_for_window(x.display, NOT_PROTECTED, timeout=20)
    line = f"Nicht geschützt: Konfiguration nicht lesbar ({path}) – bitte IT informieren"
    agent.wait_for_log(re.escape(f"not-protected window shown: {line}"))
    assert agent.process.poll() is None  # it stays, with the window, until the session ends
    assert f"silent-alarm-agent: {error}" in (user.home / "stdout-stderr.log").read_text("utf-8")

    # `status` as the same user: exit 2 and one line naming what it cannot read.
    status = agent_command_as(user, x, "status")
    assert status.returncode == 2
    assert status.stderr.splitlines() == [f"silent-alarm-agent: {error}"]
    assert agent.stop() == 2  # the session ends: it never protected this PC
