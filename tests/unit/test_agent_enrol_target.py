"""Where ``enrol`` writes and who may read it; the language of a config that cannot load."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import ConfigError, language_hint
from agent.enrol_target import ENROLMENT_FILE, enrol_target

MACHINE = "SILENT_ALARM_AGENT_MACHINE_CONFIG"
POLICY = "SILENT_ALARM_AGENT_POLICY"
USER = "SILENT_ALARM_AGENT_CONFIG"


def test_root_writes_the_machine_drop_in_for_every_user(tmp_path: Path) -> None:
    machine = tmp_path / "agent.d"
    machine.mkdir()
    # The wrapper sets root's own per-user file too: root's enrolment is not for root.
    env = {MACHINE: str(machine), USER: str(tmp_path / "root.toml")}
    target = enrol_target(None, env, root=True)
    assert (target.path, target.shared, target.mode) == (machine / ENROLMENT_FILE, True, 0o644)


def test_root_without_an_override_writes_into_etc() -> None:
    target = enrol_target(None, {}, root=True)
    assert target.path == Path("/etc/silent-alarm/agent.d") / ENROLMENT_FILE
    assert target.shared


def test_an_override_naming_one_machine_file_is_written_itself(tmp_path: Path) -> None:
    machine = tmp_path / "machine.toml"
    target = enrol_target(None, {MACHINE: str(machine)}, root=True)
    assert (target.path, target.shared) == (machine, True)


def test_a_user_writes_their_own_file_for_themselves(tmp_path: Path) -> None:
    own = tmp_path / "home" / "agent.toml"
    target = enrol_target(None, {USER: str(own)}, root=False)
    assert (target.path, target.shared, target.mode) == (own, False, 0o600)
    with pytest.raises(ConfigError, match="pass --config PATH or set SILENT_ALARM_AGENT_CONFIG"):
        enrol_target(None, {}, root=False)


def test_config_names_the_file_and_its_place_decides_who_reads_it(tmp_path: Path) -> None:
    env = {MACHINE: str(tmp_path / "agent.d"), POLICY: str(tmp_path / "agent.toml")}
    assert enrol_target(str(tmp_path / "agent.d" / "10-pc.toml"), env, root=True).shared
    assert enrol_target(str(tmp_path / "agent.toml"), env, root=True).shared
    private = enrol_target(str(tmp_path / "mine.toml"), env, root=True)
    assert (private.shared, private.mode) == (False, 0o600)


def test_language_hint_takes_the_highest_layer_that_can_be_read(tmp_path: Path) -> None:
    user = tmp_path / "user.toml"
    user.write_text('language = "en"\n', encoding="utf-8")
    missing = {MACHINE: str(tmp_path / "gone"), POLICY: str(tmp_path / "no-policy.toml")}
    assert language_hint(user, missing) == "en"  # the broken layers are passed over
    policy = tmp_path / "policy.toml"
    policy.write_text('language = "de"\n', encoding="utf-8")
    assert language_hint(user, {**missing, POLICY: str(policy)}) == "de"
    assert language_hint(tmp_path / "none.toml", missing) == "de"  # the default
