"""Agent settings: policy > machine file > user file > defaults; errors name the key and file.

Managed PCs set values centrally: a policy (``/etc/silent-alarm/agent.toml``,
on Windows the registry key ``HKLM\\SOFTWARE\\Policies\\SilentAlarm\\Agent``)
beats a machine file (``/etc/silent-alarm/agent.d/*.toml``), which beats the
user's ``--config`` file. Keys set by policy are locked: ``is_locked`` says so.
The environment variables that name other policy and machine files are for tests
on unmanaged PCs only: a user must not step around the administrator's settings.
"""

from __future__ import annotations

import getpass
import ipaddress
import logging
import os
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from agent.chord import Chord, ChordError, check_platform, parse_chord
from agent.secret_store import SecretStoreError, reveal
from shared.domain import AlarmLevel
from shared.i18n import Language

APP_NAME = "silent-alarm"
CONFIG_ENV = "SILENT_ALARM_AGENT_CONFIG"
POLICY_ENV = "SILENT_ALARM_AGENT_POLICY"
MACHINE_ENV = "SILENT_ALARM_AGENT_MACHINE_CONFIG"
POLICY_FILE = Path("/etc/silent-alarm/agent.toml")
MACHINE_DIR = Path("/etc/silent-alarm/agent.d")
POLICY_REGISTRY_KEY = r"SOFTWARE\Policies\SilentAlarm\Agent"

_log = logging.getLogger(__name__)


DISCREET_KEYS = frozenset({"hotkey_duress", "cancel_menu_duress"})
"""Keys never named on screen (status window, ``status``): whoever forced a withdrawal
must not learn that a duress cancel exists on this PC."""


class ConfigError(Exception):
    """The config file is missing, unreadable or holds a bad value; the message names the key."""


class ConfigUnreadable(ConfigError):
    """A config file or folder exists but this user may not read it (a root-only file)."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


def default_log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME))


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
    hotkey_danger: str = "ctrl+alt+shift+p"  # level 3; "" turns the second chord off
    # The duress cancel (issue 16): withdraws the newest alarm in its cancel window as the
    # tray menu does, on screen alike, but the hub keeps it open at level 3 for security.
    # "" (the default): off. A policy sets it, so nobody at the PC can see or change it.
    hotkey_duress: str = ""
    # The tray's "Alarm zurücknehmen" sends a duress cancel: every withdrawal from the menu
    # is followed up by security at level 3 (a policy for sites where that is wanted).
    cancel_menu_duress: bool = False
    # "double": a single click on the icon (by accident, or a visitor's) raises nothing.
    tray_click: Literal["single", "double"] = "double"
    allow_quit: bool = False  # an employee must not switch protection off by accident
    drill_menu: bool = True  # "Übungsalarm auslösen" in the tray menu (a policy may hide it)
    sound: bool = True
    language: Language = "de"
    data_dir: Path = Field(default_factory=default_data_dir)
    log_dir: Path = Field(default_factory=default_log_dir)

    _sources: dict[str, str] = PrivateAttr(default_factory=dict)
    _locked: frozenset[str] = PrivateAttr(default_factory=frozenset)
    # End-to-end self-test through the hub (agent/selftest.py); 0 turns the timer off.
    self_test_interval_h: float = Field(default=24.0, ge=0, le=24 * 7)
    self_test_timeout_s: float = Field(default=10.0, gt=0, le=300)
    # "Nicht geschützt" (agent/notice.py): how long to wait at login for a tray host,
    # how long a reason must last before the window shows (a short reconnect shows
    # nothing), and how soon it comes back after the employee closed it.
    tray_wait_s: float = Field(default=30.0, ge=0, le=600)
    not_protected_delay_s: float = Field(default=10.0, ge=0, le=3600)
    not_protected_reminder_s: float = Field(default=300.0, ge=1, le=24 * 3600)
    # Issue 16: neighbours' agents are alarmed directly over TCP on this port when no hub
    # stores an alarm (agent/peer_fallback.py); 0 turns the direct path off. The same
    # port on every PC of a site, open between them in the firewall.
    peer_port: int = Field(default=48330, ge=0, le=65535)
    # The local address to listen on for neighbours and to reach the hub from; default:
    # every interface, and the address the operating system picks.
    bind_address: str | None = None

    @field_validator("token", mode="before")
    @classmethod
    def _opened_token(cls, value: object) -> object:
        # Written sealed by `enrol` on Windows (agent/secret_store.py); plain elsewhere.
        if isinstance(value, str):
            try:
                return reveal(value)
            except SecretStoreError as error:
                raise ValueError(str(error)) from None
        return value

    @field_validator("bind_address")
    @classmethod
    def _ip_address(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an IP address") from None
        return value

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
            check_platform(parse_chord(text), sys.platform)
        except ChordError as exc:
            raise ValueError(str(exc)) from None
        return text

    @field_validator("hotkey_danger", "hotkey_duress")
    @classmethod
    def _valid_optional_chord(cls, text: str) -> str:
        return cls._valid_chord(text) if text.strip() else ""

    @model_validator(mode="after")
    def _distinct_chords(self) -> AgentConfig:
        if self.hotkey_danger and parse_chord(self.hotkey_danger) == parse_chord(self.hotkey):
            raise ValueError("hotkey_danger must differ from hotkey")
        if self.hotkey_duress and parse_chord(self.hotkey_duress) in {
            parse_chord(self.hotkey),
            self.danger_chord,
        }:
            raise ValueError("hotkey_duress must differ from hotkey and hotkey_danger")
        return self

    @property
    def chord(self) -> Chord:
        return parse_chord(self.hotkey)

    @property
    def danger_chord(self) -> Chord | None:
        return parse_chord(self.hotkey_danger) if self.hotkey_danger else None

    @property
    def duress_chord(self) -> Chord | None:
        return parse_chord(self.hotkey_duress) if self.hotkey_duress else None

    def is_locked(self, key: str) -> bool:
        """True if a policy set this key: the UI shows it read-only."""
        return key in self._locked

    @property
    def locked_keys(self) -> frozenset[str]:
        return self._locked

    @property
    def shown_locked_keys(self) -> frozenset[str]:
        """The locked keys a screen may name: all but the duress cancel's."""
        return self._locked - DISCREET_KEYS

    def source_of(self, key: str) -> str:
        """Where the key's value came from: a file, the registry key, or "default"."""
        return self._sources.get(key, "default")


@dataclass(frozen=True)
class Layer:
    """One config source: its values and a name for messages ("/etc/…/agent.toml")."""

    name: str
    values: dict[str, Any]
    base_dir: Path | None = None  # relative folders in this layer are relative to it
    policy: bool = False


def _describe(error: ValidationError, sources: Mapping[str, str]) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(file)"
    top = str(first["loc"][0]) if first["loc"] else ""
    where = f" ({sources[top]})" if top in sources else ""
    if first["type"] == "extra_forbidden":
        return f"config key {key!r}: unknown key{where}"
    if first["type"] == "missing":
        return f"config key {key!r}: missing"
    message = first["msg"].removeprefix("Value error, ")
    return f"config key {key!r}: {message}{where}"


def merge_layers(layers: list[Layer]) -> AgentConfig:
    """Validate layers given lowest first (user file … policy); later layers win per key."""
    data: dict[str, Any] = {}
    sources: dict[str, str] = {}
    bases: dict[str, Path | None] = {}
    locked: set[str] = set()
    for layer in layers:
        for key, value in layer.values.items():
            data[key] = value
            sources[key] = layer.name
            bases[key] = layer.base_dir
            if layer.policy:
                locked.add(key)
    try:
        config = AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, sources)) from None
    updates: dict[str, Path] = {}
    for key in ("data_dir", "log_dir"):
        path: Path = getattr(config, key).expanduser()
        base = bases.get(key)
        if base is not None and not path.is_absolute():
            path = base / path
        updates[key] = path
    config = config.model_copy(update=updates)
    config._sources = sources
    config._locked = frozenset(locked)
    return config


def parse_config(data: dict[str, Any], base_dir: Path | None = None) -> AgentConfig:
    """Validate one decoded TOML table; relative folders are taken relative to base_dir."""
    return merge_layers([Layer("config", data, base_dir)])


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} not found") from None
    except OSError as exc:
        message = f"config file {str(path)!r} unreadable: {exc.strerror}"
        raise ConfigUnreadable(path, message) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None


def _file_layer(path: Path, *, policy: bool = False) -> Layer:
    return Layer(str(path), read_toml(path), path.parent, policy)


RegistryReader = Callable[[str], dict[str, Any] | None]


def read_policy_registry(
    subkey: str = POLICY_REGISTRY_KEY, winreg: Any = None
) -> dict[str, Any] | None:
    """Values under HKLM\\<subkey>, or None when the key does not exist.

    REG_SZ → str, REG_DWORD/REG_QWORD → int (0/1 for booleans), REG_MULTI_SZ → list
    (``hub_urls``). ``winreg`` is imported here, lazily: it exists only on Windows.
    """
    if winreg is None:
        import winreg
    try:
        key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, subkey)
    except FileNotFoundError:
        return None
    values: dict[str, Any] = {}
    try:
        index = 0
        while True:
            try:
                name, value, kind = winreg.EnumValue(key, index)
            except OSError:  # ERROR_NO_MORE_ITEMS
                break
            index += 1
            if kind == winreg.REG_MULTI_SZ:
                values[name] = list(value)
            elif kind in (winreg.REG_DWORD, winreg.REG_QWORD):
                values[name] = int(value)
            elif kind in (winreg.REG_SZ, winreg.REG_EXPAND_SZ):
                values[name] = (
                    winreg.ExpandEnvironmentStrings(value)
                    if kind == winreg.REG_EXPAND_SZ
                    else str(value)
                )
            else:
                raise ConfigError(
                    f"config key {name!r}: unsupported registry type {kind} (HKLM\\{subkey})"
                )
    finally:
        winreg.CloseKey(key)
    return values


@dataclass(frozen=True)
class AdminPlaces:
    """Where the administrator's own configuration lives: writable by root/Administrators only.

    The agent uses ``admin_places()``; tests pass scratch folders standing in for
    ``/etc/silent-alarm`` and a reader standing in for the Windows registry.
    """

    machine_dir: Path
    policy_file: Path | None = None  # Linux: /etc/silent-alarm/agent.toml
    registry: RegistryReader | None = None  # Windows: the policy key under HKLM


def _program_data() -> Path:
    """%ProgramData% from the shell, never from the environment a user can set."""
    if sys.platform == "win32":
        import ctypes
        from ctypes import wintypes
        from uuid import UUID

        # FOLDERID_ProgramData; SHGetKnownFolderPath ignores the user's environment
        # (platformdirs would honour %PROGRAMDATA% and WIN_PD_OVERRIDE_* set by the user).
        folder_id = (ctypes.c_byte * 16).from_buffer_copy(
            UUID("{62AB5D82-FDC1-4DC3-A9DD-070D1D495D97}").bytes_le
        )
        path = wintypes.LPWSTR()
        shell32 = ctypes.windll.shell32
        if shell32.SHGetKnownFolderPath(folder_id, 0, None, ctypes.byref(path)) != 0:
            raise ConfigError("the ProgramData folder cannot be found (SHGetKnownFolderPath)")
        try:
            return Path(str(path.value))
        finally:
            ctypes.windll.ole32.CoTaskMemFree(path)
    raise ConfigError("ProgramData exists on Windows only")


def admin_places(registry: RegistryReader | None = None) -> AdminPlaces:
    """This OS's places; ``registry`` (a test's stand-in for winreg) selects the Windows rules."""
    if sys.platform == "win32":
        machine = _program_data() / "SilentAlarm" / "agent.d"
        return AdminPlaces(machine, registry=registry or read_policy_registry)
    if registry is not None:
        return AdminPlaces(MACHINE_DIR, registry=registry)
    return AdminPlaces(MACHINE_DIR, policy_file=POLICY_FILE)


def _present(path: Path) -> bool:
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True  # there, but not ours to see (a root-only folder): the admin's
    return True


def is_managed(places: AdminPlaces) -> bool:
    """True when the administrator configured this PC: a policy or the machine folder exists."""
    if places.registry is not None and places.registry(POLICY_REGISTRY_KEY) is not None:
        return True
    return any(_present(path) for path in (places.policy_file, places.machine_dir) if path)


def _overrides(environ: Mapping[str, str], places: AdminPlaces) -> tuple[str | None, str | None]:
    """($SILENT_ALARM_AGENT_MACHINE_CONFIG, $SILENT_ALARM_AGENT_POLICY), honoured only when
    the PC is not managed.

    Both variables are for tests and trials on a PC without the package. Any user can
    set them (HKCU\\Environment on Windows, ~/.profile on Linux), so on a managed PC
    they would let the user step around the administrator's policy and machine files:
    there they are ignored, with a warning in the log.
    """
    machine, policy = environ.get(MACHINE_ENV) or None, environ.get(POLICY_ENV) or None
    if (machine or policy) and is_managed(places):
        pairs = ((MACHINE_ENV, machine), (POLICY_ENV, policy))
        named = [f"${name}" for name, value in pairs if value]
        _log.warning("ignored %s: this PC has an administrator's configuration", ", ".join(named))
        return None, None
    return machine, policy


def machine_location(environ: Mapping[str, str], places: AdminPlaces | None = None) -> Path:
    """The machine files' folder (or one file, when $SILENT_ALARM_AGENT_MACHINE_CONFIG says so)."""
    places = places or admin_places()
    override, _ = _overrides(environ, places)
    return Path(override) if override else places.machine_dir


def policy_location(environ: Mapping[str, str], places: AdminPlaces | None = None) -> Path | None:
    """The policy file the agent reads (None on Windows: the registry)."""
    places = places or admin_places()
    _, override = _overrides(environ, places)
    return Path(override) if override else places.policy_file


def machine_layers(environ: Mapping[str, str], places: AdminPlaces | None = None) -> list[Layer]:
    """The machine files, lowest first: one file, or every ``*.toml`` of a folder by name."""
    places = places or admin_places()
    override, _ = _overrides(environ, places)
    target = Path(override) if override else places.machine_dir
    if target.is_dir():
        try:  # glob() would see an unreadable folder as an empty one
            os.scandir(target).close()
        except OSError as exc:
            message = f"machine config folder {str(target)!r} unreadable: {exc.strerror}"
            raise ConfigUnreadable(target, message) from None
        return [_file_layer(path) for path in sorted(target.glob("*.toml"))]
    if override and not target.exists():
        raise ConfigError(f"machine config {str(target)!r} not found (from ${MACHINE_ENV})")
    return [_file_layer(target)] if target.exists() else []


def policy_layer(
    environ: Mapping[str, str],
    registry: RegistryReader | None = None,
    places: AdminPlaces | None = None,
) -> Layer | None:
    """The policy: the registry key on Windows, else the policy file (or a test's, if unmanaged)."""
    places = places or admin_places(registry)
    _, override = _overrides(environ, places)
    if override:
        return _file_layer(Path(override), policy=True)
    if places.registry is not None:
        values = places.registry(POLICY_REGISTRY_KEY)
        if values is None:
            return None
        return Layer(f"HKLM\\{POLICY_REGISTRY_KEY}", values, None, policy=True)
    if places.policy_file is not None and places.policy_file.exists():
        return _file_layer(places.policy_file, policy=True)
    return None


def load_config(
    path: Path,
    environ: Mapping[str, str] | None = None,
    registry: RegistryReader | None = None,
    places: AdminPlaces | None = None,
) -> AgentConfig:
    """Read the user file at path, then the machine files and the policy above it."""
    env = os.environ if environ is None else environ
    places = places or admin_places(registry)
    layers = [_file_layer(path), *machine_layers(env, places)]
    policy = policy_layer(env, places=places)
    if policy is not None:
        layers.append(policy)
    return merge_layers(layers)


def language_hint(
    path: Path,
    environ: Mapping[str, str] | None = None,
    registry: RegistryReader | None = None,
    places: AdminPlaces | None = None,
) -> Language:
    """The ``language`` of the highest layer that can be read, else German.

    For the one message an agent shows when its configuration cannot be loaded:
    the layers that can be read may still say which language the PC speaks.
    """
    env = os.environ if environ is None else environ
    places = places or admin_places(registry)
    sources: list[Callable[[], list[Layer]]] = [
        lambda: [_file_layer(path)],
        lambda: machine_layers(env, places),
        lambda: [layer] if (layer := policy_layer(env, places=places)) else [],
    ]
    language: Language = "de"
    for source in sources:
        try:
            layers = source()
        except ConfigError:
            continue
        for layer in layers:
            value = layer.values.get("language")
            if value in ("de", "en"):
                language = value
    return language


def config_path(cli_value: str | None, environ: Mapping[str, str] | None = None) -> Path:
    """The --config argument, else $SILENT_ALARM_AGENT_CONFIG."""
    value = cli_value or (os.environ if environ is None else environ).get(CONFIG_ENV)
    if not value:
        raise ConfigError(f"no config file: pass --config PATH or set {CONFIG_ENV}")
    return Path(value)
