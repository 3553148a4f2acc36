"""The MSI's custom action, ``machine-config``, run as the MSI runs it, against a real hub.

The command line is the .wxs's (``WriteMachineConfig``), through the frozen entry point
(installers/windows/agent_main.py) both executables share; the machine folder is a
scratch one standing in for ``%ProgramData%\\SilentAlarm\\agent.d``. That the MSI runs it
as SYSTEM and hides the code in its log is checked on the Windows runner.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import AdminPlaces, load_config
from tests.support.commands import command_env
from tests.support.hub import RunningHub, start_demo_hub
from tests.support.operators import ADMIN, API, add_operator, api_client

REPO = Path(__file__).resolve().parents[2]
ENTRY = REPO / "installers" / "windows" / "agent_main.py"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    running = start_demo_hub(tmp_path_factory.mktemp("hub"))
    add_operator(running, *ADMIN, "admin")
    yield running
    running.stop()


def new_code(hub: RunningHub) -> str:
    with api_client(hub, *ADMIN) as admin:
        response = admin.post(f"{API}/enrolment-codes", json={"site_id": 1, "room_id": 3})
        assert response.status_code == 201, response.text
        code: str = response.json()["codes"][0]["code"]
        return code


def machine_config(
    folder: Path, hub_urls: str = "", language: str = "", peer_port: str = "", code: str = ""
) -> subprocess.CompletedProcess[str]:
    """The custom action's command line; an MSI property not given is passed empty."""
    args = ["machine-config", "--hub-urls", hub_urls, "--language", language]
    args += ["--peer-port", peer_port, "--enrol-code", code, "--folder", str(folder)]
    return subprocess.run(
        [sys.executable, str(ENTRY), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=command_env({"APPDATA": str(folder.parent / "appdata"), "PYTHONPATH": str(REPO)}),
    )


def read(path: Path) -> dict[str, object]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_properties_are_written_and_an_upgrade_without_them_keeps_them(tmp_path: Path) -> None:
    folder = tmp_path / "agent.d"
    urls = "wss://hub-a.amt/ws/agent wss://hub-b.amt/ws/agent"
    done = machine_config(folder, urls, "en", "0")
    assert done.returncode == 0, done.stderr
    msi = folder / "60-msi.toml"
    assert read(msi) == {
        "hub_urls": ["wss://hub-a.amt/ws/agent", "wss://hub-b.amt/ws/agent"],
        "language": "en",
        "peer_port": 0,
    }
    assert msi.stat().st_mode & 0o777 == 0o644  # every desktop user's agent reads it
    assert not (tmp_path / "appdata").exists()  # SYSTEM gets no user file of its own
    # A major upgrade without properties: nothing given, everything kept.
    assert machine_config(folder).returncode == 0
    assert read(msi)["language"] == "en"
    # One property given on upgrade replaces that key only.
    assert machine_config(folder, language="de").returncode == 0
    assert read(msi) == {
        "hub_urls": ["wss://hub-a.amt/ws/agent", "wss://hub-b.amt/ws/agent"],
        "language": "de",
        "peer_port": 0,
    }
    user = tmp_path / "user.toml"
    user.write_text('workstation_id = "pc-1"\ntoken = "t"\n', encoding="utf-8")
    config = load_config(user, environ={}, places=AdminPlaces(folder))
    assert config.hub_urls == ["wss://hub-a.amt/ws/agent", "wss://hub-b.amt/ws/agent"]
    assert config.peer_port == 0


@pytest.mark.parametrize(
    ("property_values", "message"),
    [
        ({"hub_urls": "https://hub.amt/"}, "config key 'hub_urls'.*not a ws:// or wss:// URL"),
        ({"language": "fr"}, "config key 'language'"),
        ({"peer_port": "80000"}, "config key 'peer_port'"),
        ({"peer_port": "port"}, "config key 'peer_port': 'port' is not a number"),
    ],
)
def test_a_bad_property_fails_with_one_line_and_changes_nothing(
    tmp_path: Path, property_values: dict[str, str], message: str
) -> None:
    folder = tmp_path / "agent.d"
    assert machine_config(folder, "wss://hub.amt/ws/agent", "de").returncode == 0
    before = (folder / "60-msi.toml").read_bytes()
    done = machine_config(folder, **property_values)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("silent-alarm-agent: ")
    assert re.search(message, line), line
    assert (folder / "60-msi.toml").read_bytes() == before


def test_the_code_enrols_the_pc_once_and_never_appears_in_the_output(
    hub: RunningHub, tmp_path: Path
) -> None:
    folder = tmp_path / "agent.d"
    code = new_code(hub)
    done = machine_config(folder, hub.agent_ws_url, code=code)
    assert done.returncode == 0, done.stderr
    assert code not in done.stdout + done.stderr
    enrolment = read(folder / "50-enrolment.toml")
    assert done.stdout.splitlines()[-1] == f"enrolled as {enrolment['workstation_id']}"
    assert enrolment["hub_urls"] == [hub.agent_ws_url]
    assert (folder / "50-enrolment.toml").stat().st_mode & 0o777 == 0o644
    # A repair or upgrade with a (new) code keeps the identity and leaves the code unspent.
    second = new_code(hub)
    again = machine_config(folder, hub.agent_ws_url, code=second)
    assert again.returncode == 0, again.stderr
    assert "already enrolled: the enrolment code was not used" in again.stdout
    assert read(folder / "50-enrolment.toml") == enrolment
    other = machine_config(tmp_path / "other-pc", hub.agent_ws_url, code=second)
    assert other.returncode == 0, other.stderr  # still good for another PC


def test_a_refused_code_fails_the_installation_and_writes_nothing(
    hub: RunningHub, tmp_path: Path
) -> None:
    folder = tmp_path / "agent.d"
    done = machine_config(folder, hub.agent_ws_url, "en", code="not-a-code-1234567890")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("silent-alarm-agent: hub answered 4")
    assert "not-a-code" not in line
    assert not (folder / "60-msi.toml").exists()
    assert not (folder / "50-enrolment.toml").exists()
    # Without the hub's address there is nowhere to enrol.
    done = machine_config(tmp_path / "b", code="anything")
    assert done.returncode == 2
    assert "needs the hub's address (HUBURL)" in done.stderr
    # A hub URL enrolment cannot be derived from.
    done = machine_config(tmp_path / "c", "wss://hub.amt/agent", code="anything")
    assert done.returncode == 2
    assert "does not end in /ws/agent" in done.stderr
