"""``silent-alarm-agent enrol`` end to end against a real hub: code in, working config out."""

from __future__ import annotations

import getpass
import stat
from pathlib import Path

import httpx
import pytest

from agent.config import load_config
from agent.enrol import EnrolError, agent_ws_url, enrol_url
from tests.support.commands import agent_cli
from tests.support.hub import RunningHub, free_port
from tests.support.operators import ADMIN, API, api_client
from tests.support.wsclient import connect_agent


def new_code(hub: RunningHub, **body: object) -> str:
    with api_client(hub, *ADMIN) as admin:
        response = admin.post(f"{API}/enrolment-codes", json={"site_id": 1, **body})
        assert response.status_code == 201, response.text
        code: str = response.json()["codes"][0]["code"]
        return code


@pytest.fixture
def demo_hub_template(admin_template: Path) -> Path:
    """This module's hubs have the admin: made with ``operator add`` once per session."""
    return admin_template


@pytest.fixture
def hub(demo_hub: RunningHub) -> RunningHub:
    return demo_hub


@pytest.mark.parametrize(
    ("hub_url", "ws"),
    [
        ("http://hub:8000", "ws://hub:8000/ws/agent"),
        ("https://hub.example/", "wss://hub.example/ws/agent"),
        ("https://proxy.example/alarm", "wss://proxy.example/alarm/ws/agent"),
    ],
)
def test_urls_are_derived_from_the_hub_url(hub_url: str, ws: str) -> None:
    assert agent_ws_url(hub_url) == ws
    assert enrol_url(hub_url).endswith("/api/v1/enrol")
    with pytest.raises(EnrolError):
        agent_ws_url("ws://hub:8000")


async def test_enrol_writes_a_config_the_agent_connects_with(
    hub: RunningHub, tmp_path: Path
) -> None:
    config = tmp_path / "etc" / "agent.toml"
    code = new_code(hub, room_id=3)
    result = agent_cli(
        "enrol", "--hub", hub.url, "--code", code, "--config", str(config), "--hostname", "PC-77"
    )
    assert result.returncode == 0, result.stderr
    assert "enrolled as pc-77" in result.stdout
    assert code not in result.stdout
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert [p.name for p in config.parent.iterdir()] == ["agent.toml"]  # no temporary left
    loaded = load_config(config)
    assert loaded.hub_urls == [hub.agent_ws_url]
    assert loaded.workstation_id == "pc-77"
    agent = await connect_agent(
        loaded.hub_urls[0], loaded.workstation_id, loaded.token.get_secret_value()
    )
    try:
        assert agent.welcome.workstation.room is not None
        assert agent.welcome.workstation.room.number == "1.02"
    finally:
        await agent.close()

    # An existing config is kept unless --force; the check comes before the code is spent.
    second = new_code(hub)
    kept = agent_cli("enrol", "--hub", hub.url, "--code", second, "--config", str(config))
    assert kept.returncode == 2
    assert len(kept.stderr.strip().splitlines()) == 1
    assert "exists; pass --force" in kept.stderr
    assert load_config(config).workstation_id == "pc-77"
    forced = agent_cli(
        "enrol",
        "--hub",
        hub.url,
        "--code",
        second,
        "--config",
        str(config),
        "--force",
        "--hostname",
        "PC-77",
    )
    assert forced.returncode == 0, forced.stderr
    assert load_config(config).workstation_id == "pc-77-2"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


def test_a_used_code_fails_with_one_line_and_writes_nothing(
    hub: RunningHub, tmp_path: Path
) -> None:
    tmp_path = tmp_path / "cfg"
    code = new_code(hub)
    first = agent_cli(
        "enrol", "--hub", hub.url, "--code", code, "--config", str(tmp_path / "a.toml")
    )
    assert first.returncode == 0, first.stderr
    again = agent_cli(
        "enrol", "--hub", hub.url, "--code", code, "--config", str(tmp_path / "b.toml")
    )
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        "silent-alarm-agent: hub answered 403: enrolment refused: enrolment code already used"
    ]
    assert not (tmp_path / "b.toml").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.toml"]


def test_unreachable_hub_and_bad_url_exit_2(tmp_path: Path) -> None:
    port = free_port()
    down = agent_cli(
        "enrol",
        "--hub",
        f"http://127.0.0.1:{port}",
        "--code",
        "X",
        "--config",
        str(tmp_path / "c.toml"),
    )
    assert down.returncode == 2
    assert down.stderr.startswith("silent-alarm-agent: hub http://127.0.0.1:")
    assert "unreachable" in down.stderr
    bad = agent_cli(
        "enrol", "--hub", "hub:8000", "--code", "X", "--config", str(tmp_path / "c.toml")
    )
    assert bad.returncode == 2
    assert "--hub must be an http:// or https:// URL" in bad.stderr
    assert list(tmp_path.iterdir()) == []


def test_enrolled_pending_pc_is_listed_with_its_version(hub: RunningHub, tmp_path: Path) -> None:
    code = new_code(hub)
    result = agent_cli(
        "enrol",
        "--hub",
        hub.url,
        "--code",
        code,
        "--config",
        str(tmp_path / "a.toml"),
        "--hostname",
        "pc-neu",
    )
    assert result.returncode == 0, result.stderr
    assert "pending" in result.stdout
    with httpx.Client(base_url=hub.url) as anonymous:
        assert anonymous.get(f"{API}/workstations/pc-neu").status_code == 401
    with api_client(hub, *ADMIN) as admin:
        listed = admin.get(f"{API}/workstations/pc-neu").json()
    assert (listed["state"], listed["room_id"], listed["agent_version"]) == (
        "pending",
        None,
        "0.1.0",
    )


def test_the_wrappers_empty_user_file_is_filled_without_force(
    hub: RunningHub, tmp_path: Path
) -> None:
    # /usr/bin/silent-alarm-agent creates the per-user file empty at the first start.
    own = tmp_path / "home" / "agent.toml"
    own.parent.mkdir()
    own.write_text("# nothing set yet\n", encoding="utf-8")
    result = agent_cli("enrol", "--hub", hub.url, "--code", new_code(hub), "--config", str(own))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == f"readable by {getpass.getuser()} only (mode 0600)"
    assert stat.S_IMODE(own.stat().st_mode) == 0o600
    assert load_config(own).hub_urls == [hub.agent_ws_url]
