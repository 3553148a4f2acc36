"""Enrolment by root for every user of a PC (issue 18).

Software distribution runs ``silent-alarm-agent enrol`` as root; the agent runs
at each login as that desktop user. The test runs as root, enrols into a scratch
/etc/silent-alarm (the .deb's policy file and agent.d/), and starts the real agent
as the unprivileged account ``nobody`` on Xvfb against a real hub.
"""

from __future__ import annotations

import os
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
from tests.support.xserver import XServer


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
