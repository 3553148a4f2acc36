"""Loading the agent's TOML config: defaults, relative folders, and errors that name the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import AgentConfig, ConfigError, config_path, load_config
from shared.domain import AlarmLevel

MINIMAL = """
hub_urls = ["ws://127.0.0.1:8000/ws/agent"]
workstation_id = "ws-101"
token = "s3cret-token"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.hub_urls == ["ws://127.0.0.1:8000/ws/agent"]
    assert config.workstation_id == "ws-101"
    assert config.token.get_secret_value() == "s3cret-token"
    assert config.user  # from the passwd entry or the login name
    assert config.hotkey == "ctrl+alt+p"
    assert config.hotkey_level is AlarmLevel.THREAT
    assert config.language == "de"
    assert config.data_dir.name == "silent-alarm"
    assert config.log_dir.is_absolute()
    assert str(config.chord) == "ctrl+alt+p"


def test_all_keys(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + """
user = "Erika Mustermann"
hotkey = "ctrl+shift+f9"
hotkey_level = 3
language = "en"
data_dir = "data"
log_dir = "/var/tmp/sa-logs"
"""
    )
    config = load_config(write(tmp_path, text))
    assert config.user == "Erika Mustermann"
    assert config.hotkey == "ctrl+shift+f9"
    assert config.hotkey_level is AlarmLevel.DANGER
    assert config.language == "en"
    assert config.data_dir == tmp_path / "data"  # relative to the config file
    assert config.log_dir == Path("/var/tmp/sa-logs")


def test_token_never_shows_in_repr(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert "s3cret-token" not in repr(config)
    assert "s3cret-token" not in str(config)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('workstation_id = "a"\ntoken = "t"', "config key 'hub_urls': missing"),
        (MINIMAL.replace('token = "s3cret-token"', ""), "config key 'token': missing"),
        (MINIMAL + 'hotkey = "ctrl+alt+f2"', "config key 'hotkey'.*console"),
        (MINIMAL + 'hotkey = "ctrl+alt"', "config key 'hotkey'"),
        (MINIMAL + "hotkey_level = 4", "config key 'hotkey_level'"),
        (MINIMAL + 'language = "fr"', "config key 'language'"),
        (MINIMAL + 'hub_url = "ws://x"', "config key 'hub_url': unknown key"),
        (MINIMAL.replace("ws://127", "http://127"), "config key 'hub_urls.*ws://"),
        (MINIMAL.replace('"ws-101"', '""'), "config key 'workstation_id'"),
        ("hub_urls = [", "not valid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_config_path_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SILENT_ALARM_AGENT_CONFIG", "/etc/silent-alarm/agent.toml")
    assert config_path(None) == Path("/etc/silent-alarm/agent.toml")
    assert config_path("/x.toml") == Path("/x.toml")
    monkeypatch.delenv("SILENT_ALARM_AGENT_CONFIG")
    with pytest.raises(ConfigError, match="SILENT_ALARM_AGENT_CONFIG"):
        config_path(None)


def test_cli_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "hotkey_level = 9")
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "trigger", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "hotkey_level" in lines[0]
    assert "s3cret-token" not in result.stderr


def test_model_forbids_unknown_fields_directly() -> None:
    with pytest.raises(ValueError, match="extra"):
        AgentConfig.model_validate(
            {"hub_urls": ["ws://h"], "workstation_id": "w", "token": "t", "x": 1}
        )
