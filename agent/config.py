"""The agent's typed settings, read from one TOML file; a bad value names its key."""

from __future__ import annotations

import getpass
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from agent.chord import Chord, ChordError, parse_chord
from shared.domain import AlarmLevel

APP_NAME = "silent-alarm"
CONFIG_ENV = "SILENT_ALARM_AGENT_CONFIG"


class ConfigError(Exception):
    """The config file is missing, unreadable or holds a bad value; the message names the key."""


def default_user() -> str:
    """The logged-in person's full name from the passwd GECOS field, else the login name."""
    try:
        import pwd  # not on Windows

        gecos = pwd.getpwuid(os.getuid()).pw_gecos.split(",")[0].strip()
        if gecos:
            return gecos
    except (ImportError, KeyError):
        pass
    return getpass.getuser()


class AgentConfig(BaseModel):
    """Every key of the agent's TOML file. Documented in docs/agent.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hub_urls: list[str] = Field(min_length=1)
    workstation_id: str = Field(min_length=1, max_length=128)
    token: SecretStr = Field(min_length=1, max_length=256)
    user: str = Field(default_factory=default_user, min_length=1, max_length=128)
    hotkey: str = "ctrl+alt+p"
    hotkey_level: AlarmLevel = AlarmLevel.THREAT
    language: Literal["de", "en"] = "de"
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME)))
    log_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_log_dir(APP_NAME)))

    @field_validator("hub_urls")
    @classmethod
    def _websocket_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("ws://", "wss://")):
                raise ValueError(f"{url!r} is not a ws:// or wss:// URL")
        return urls

    @field_validator("hotkey")
    @classmethod
    def _valid_chord(cls, text: str) -> str:
        try:
            parse_chord(text)
        except ChordError as exc:
            raise ValueError(str(exc)) from None
        return text

    @property
    def chord(self) -> Chord:
        return parse_chord(self.hotkey)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(file)"
    if first["type"] == "extra_forbidden":
        return f"config key {key!r}: unknown key"
    if first["type"] == "missing":
        return f"config key {key!r}: missing"
    return f"config key {key!r}: {first['msg']}"


def parse_config(data: dict[str, Any], base_dir: Path | None = None) -> AgentConfig:
    """Validate a decoded TOML table; relative folders are taken relative to base_dir."""
    try:
        config = AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    updates: dict[str, Path] = {}
    for key in ("data_dir", "log_dir"):
        path: Path = getattr(config, key).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        updates[key] = path
    return config.model_copy(update=updates)


def load_config(path: Path) -> AgentConfig:
    """Read and validate the TOML file at path."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} not found") from None
    except OSError as exc:
        raise ConfigError(f"config file {str(path)!r} unreadable: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    return parse_config(data, base_dir=path.parent)


def config_path(cli_value: str | None) -> Path:
    """The --config argument, else $SILENT_ALARM_AGENT_CONFIG."""
    value = cli_value or os.environ.get(CONFIG_ENV)
    if not value:
        raise ConfigError(f"no config file: pass --config PATH or set {CONFIG_ENV}")
    return Path(value)
