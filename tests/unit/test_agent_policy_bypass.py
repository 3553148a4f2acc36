"""A user's environment cannot step around the administrator's policy or machine files.

``$SILENT_ALARM_AGENT_POLICY`` and ``$SILENT_ALARM_AGENT_MACHINE_CONFIG`` name other files
for tests; any user can set them (``~/.profile``, ``HKCU\\Environment``). Here the places
only root or an Administrator can write are scratch folders (``AdminPlaces``): the real
``/etc/silent-alarm`` would change every other agent on this machine, and the Windows
registry does not exist here (``FakeWinreg`` stands in for ``winreg``; the real key is
tested by tests/windows/test_windows_policy.py on the Windows runner).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent.config import (
    POLICY_REGISTRY_KEY,
    AdminPlaces,
    is_managed,
    language_hint,
    load_config,
    read_policy_registry,
)
from agent.enrol_target import enrol_target
from tests.unit.test_agent_config import MINIMAL, FakeWinreg, write

POLICY = "SILENT_ALARM_AGENT_POLICY"
MACHINE = "SILENT_ALARM_AGENT_MACHINE_CONFIG"


def users_own_files(tmp_path: Path) -> dict[str, str]:
    """What a user would set: a policy allowing "Beenden", machine files naming their hub."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "policy.toml").write_text('allow_quit = true\nlanguage = "en"\n', encoding="utf-8")
    (home / "agent.d").mkdir()
    (home / "agent.d" / "99-mine.toml").write_text(
        'hub_urls = ["ws://attacker.invalid/ws/agent"]\n', encoding="utf-8"
    )
    return {POLICY: str(home / "policy.toml"), MACHINE: str(home / "agent.d")}


def etc(tmp_path: Path, policy: str | None, machine: str | None) -> AdminPlaces:
    """A stand-in for /etc/silent-alarm (root-owned on a real PC)."""
    folder = tmp_path / "etc"
    (folder / "agent.d").mkdir(parents=True)
    if policy is not None:
        (folder / "agent.toml").write_text(policy, encoding="utf-8")
    if machine is not None:
        (folder / "agent.d" / "50-enrolment.toml").write_text(machine, encoding="utf-8")
    return AdminPlaces(folder / "agent.d", policy_file=folder / "agent.toml")


def test_the_linux_policy_file_wins_over_a_users_environment(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    places = etc(tmp_path, "allow_quit = false\n", 'hub_urls = ["wss://hub.amt/ws/agent"]\n')
    env = users_own_files(tmp_path)
    with caplog.at_level(logging.WARNING, logger="agent.config"):
        config = load_config(write(tmp_path, MINIMAL), environ=env, places=places)
    assert config.allow_quit is False
    assert config.is_locked("allow_quit")
    assert config.source_of("allow_quit") == str(tmp_path / "etc" / "agent.toml")
    assert config.language == "de"  # the user's "policy" is not read at all
    assert config.hub_urls == ["wss://hub.amt/ws/agent"]  # nor their machine folder
    assert f"ignored ${MACHINE}, ${POLICY}: this PC has an administrator's" in caplog.text
    assert language_hint(tmp_path / "agent.toml", env, places=places) == "de"


def test_a_machine_folder_alone_makes_the_pc_managed(tmp_path: Path) -> None:
    # No policy file: the user's "policy" would otherwise lock their own hub over the
    # enrolment's. The .deb ships the policy file; this is a PC set up by hand.
    places = etc(tmp_path, None, 'hub_urls = ["wss://hub.amt/ws/agent"]\n')
    env = users_own_files(tmp_path)
    env[POLICY] = str(tmp_path / "home" / "agent.d" / "99-mine.toml")
    config = load_config(write(tmp_path, MINIMAL), environ=env, places=places)
    assert config.hub_urls == ["wss://hub.amt/ws/agent"]
    assert config.locked_keys == frozenset()


def test_the_windows_registry_policy_wins_over_a_users_environment(tmp_path: Path) -> None:
    reg = FakeWinreg({POLICY_REGISTRY_KEY: [("allow_quit", 0, 4), ("hotkey_level", 3, 4)]})
    places = AdminPlaces(
        tmp_path / "ProgramData" / "SilentAlarm" / "agent.d",  # not there: the registry alone
        registry=lambda key: read_policy_registry(key, reg),
    )
    env = users_own_files(tmp_path)
    config = load_config(write(tmp_path, MINIMAL), environ=env, places=places)
    assert config.allow_quit is False
    assert config.source_of("allow_quit") == r"HKLM\SOFTWARE\Policies\SilentAlarm\Agent"
    assert config.locked_keys == frozenset({"allow_quit", "hotkey_level"})
    assert config.language == "de"


def test_the_installed_machine_folder_makes_a_windows_pc_managed(tmp_path: Path) -> None:
    # The MSI creates %ProgramData%\SilentAlarm\agent.d: no policy key is needed for the
    # user's variables to be ignored.
    machine = tmp_path / "ProgramData" / "SilentAlarm" / "agent.d"
    machine.mkdir(parents=True)
    (machine / "60-msi.toml").write_text('hub_urls = ["wss://hub.amt/ws/agent"]\n', "utf-8")
    places = AdminPlaces(machine, registry=lambda key: read_policy_registry(key, FakeWinreg({})))
    assert is_managed(places)
    config = load_config(write(tmp_path, MINIMAL), environ=users_own_files(tmp_path), places=places)
    assert config.hub_urls == ["wss://hub.amt/ws/agent"]
    assert config.allow_quit is False
    assert config.locked_keys == frozenset()


def test_on_an_unmanaged_pc_the_variables_name_the_files(tmp_path: Path) -> None:
    # A developer's or the test suite's PC: nothing of the administrator's to protect.
    places = AdminPlaces(tmp_path / "etc" / "agent.d", policy_file=tmp_path / "etc" / "agent.toml")
    assert not is_managed(places)
    config = load_config(write(tmp_path, MINIMAL), environ=users_own_files(tmp_path), places=places)
    assert config.allow_quit is True
    assert config.is_locked("allow_quit")
    assert config.hub_urls == ["ws://attacker.invalid/ws/agent"]


def test_enrol_by_root_on_a_managed_pc_writes_where_the_agent_reads(tmp_path: Path) -> None:
    places = etc(tmp_path, "", None)
    target = enrol_target(None, users_own_files(tmp_path), root=True, places=places)
    assert target.path == tmp_path / "etc" / "agent.d" / "50-enrolment.toml"
    assert target.shared
