"""Loading the agent's TOML config: defaults, relative folders, and errors that name the key."""

from __future__ import annotations

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


def test_model_forbids_unknown_fields_directly() -> None:
    with pytest.raises(ValueError, match="extra"):
        AgentConfig.model_validate(
            {"hub_urls": ["ws://h"], "workstation_id": "w", "token": "t", "x": 1}
        )


def test_new_keys_defaults_and_values(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert config.hotkey_danger == "ctrl+alt+shift+p"
    assert str(config.danger_chord) == "ctrl+alt+shift+p"
    assert (config.tray_click, config.allow_quit, config.sound) == ("double", False, True)
    text = MINIMAL + 'hotkey_danger = ""\ntray_click = "double"\nallow_quit = true\nsound = false\n'
    config = load_config(write(tmp_path, text), environ={})
    assert config.danger_chord is None  # the second chord is off
    assert (config.tray_click, config.allow_quit, config.sound) == ("double", True, False)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('hotkey_danger = "ctrl+alt+f3"', "config key 'hotkey_danger'.*console"),
        ('hotkey_danger = "Alt+Ctrl+P"', "config key '\\(file\\)'|hotkey_danger must differ"),
        ('tray_click = "triple"', "config key 'tray_click'"),
        ('allow_quit = "maybe"', "config key 'allow_quit'"),
    ],
)
def test_bad_new_keys_name_the_key(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, MINIMAL + line), environ={})


def layered(tmp_path: Path, user: str, machine: str | None, policy: str | None) -> dict[str, str]:
    """Writes the three files; returns the environment that points the agent at them."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    write(tmp_path, user)
    env: dict[str, str] = {}
    if machine is not None:
        folder = tmp_path / "agent.d"
        folder.mkdir()
        (folder / "10-site.toml").write_text(machine, encoding="utf-8")
        env["SILENT_ALARM_AGENT_MACHINE_CONFIG"] = str(folder)
    if policy is not None:
        path = tmp_path / "policy.toml"
        path.write_text(policy, encoding="utf-8")
        env["SILENT_ALARM_AGENT_POLICY"] = str(path)
    return env


def test_policy_beats_machine_beats_user(tmp_path: Path) -> None:
    env = layered(
        tmp_path,
        MINIMAL + 'hotkey = "ctrl+alt+x"\nlanguage = "en"\nsound = false\nhotkey_level = 1\n',
        'language = "de"\nhotkey_level = 2\ndata_dir = "machine-data"\n',
        "hotkey_level = 3\nallow_quit = false\n",
    )
    config = load_config(tmp_path / "agent.toml", environ=env)
    assert config.hotkey == "ctrl+alt+x"  # only the user set it
    assert config.sound is False
    assert config.language == "de"  # machine beats user
    assert config.hotkey_level is AlarmLevel.DANGER  # policy beats both
    assert config.data_dir == tmp_path / "agent.d" / "machine-data"  # relative to its file
    assert config.locked_keys == frozenset({"hotkey_level", "allow_quit"})
    assert config.is_locked("hotkey_level")
    assert not config.is_locked("language")
    assert config.source_of("language") == str(tmp_path / "agent.d" / "10-site.toml")
    assert config.source_of("user") == "default"


def test_machine_folder_files_apply_in_name_order(tmp_path: Path) -> None:
    env = layered(tmp_path, MINIMAL, "hotkey_level = 1\n", None)
    (tmp_path / "agent.d" / "20-room.toml").write_text("hotkey_level = 3\n", encoding="utf-8")
    (tmp_path / "agent.d" / "notes.txt").write_text("hotkey_level = 2\n", encoding="utf-8")
    config = load_config(tmp_path / "agent.toml", environ=env)
    assert config.hotkey_level is AlarmLevel.DANGER
    assert config.locked_keys == frozenset()


def test_machine_config_may_be_one_file(tmp_path: Path) -> None:
    machine = tmp_path / "machine.toml"
    machine.write_text('language = "en"\n', encoding="utf-8")
    env = {"SILENT_ALARM_AGENT_MACHINE_CONFIG": str(machine)}
    assert load_config(write(tmp_path, MINIMAL), environ=env).language == "en"


def test_policy_alone_may_supply_required_keys(tmp_path: Path) -> None:
    env = layered(tmp_path, 'user = "Erika"\n', None, MINIMAL)
    config = load_config(tmp_path / "agent.toml", environ=env)
    assert config.workstation_id == "ws-101"
    assert {"hub_urls", "workstation_id", "token"} <= config.locked_keys


def test_errors_name_the_key_and_the_file(tmp_path: Path) -> None:
    env = layered(tmp_path, MINIMAL, 'tray_click = "often"\n', None)
    machine_file = str(tmp_path / "agent.d" / "10-site.toml")
    with pytest.raises(ConfigError, match=f"config key 'tray_click'.*{machine_file}"):
        load_config(tmp_path / "agent.toml", environ=env)
    env = layered(tmp_path / "b", MINIMAL, None, "hotkey_level = 7\n")
    policy_file = str(tmp_path / "b" / "policy.toml")
    with pytest.raises(ConfigError, match=f"config key 'hotkey_level'.*{policy_file}"):
        load_config(tmp_path / "b" / "agent.toml", environ=env)
    env = layered(tmp_path / "c", MINIMAL, None, "colour = 1\n")
    with pytest.raises(ConfigError, match=r"config key 'colour': unknown key.*policy\.toml"):
        load_config(tmp_path / "c" / "agent.toml", environ=env)


def test_broken_or_missing_policy_and_machine_files(tmp_path: Path) -> None:
    env = layered(tmp_path, MINIMAL, None, "hotkey_level = [")
    with pytest.raises(ConfigError, match=r"policy\.toml' is not valid TOML"):
        load_config(tmp_path / "agent.toml", environ=env)
    env = {"SILENT_ALARM_AGENT_MACHINE_CONFIG": str(tmp_path / "nope")}
    with pytest.raises(ConfigError, match=r"machine config .*nope' not found"):
        load_config(tmp_path / "agent.toml", environ=env)
    env = {"SILENT_ALARM_AGENT_POLICY": str(tmp_path / "nope.toml")}
    with pytest.raises(ConfigError, match=r"nope\.toml' not found"):
        load_config(tmp_path / "agent.toml", environ=env)


class FakeWinreg:
    """Stand-in for Python's ``winreg`` module (Windows only), holding one HKLM tree."""

    HKEY_LOCAL_MACHINE = 0x80000002
    REG_SZ, REG_EXPAND_SZ, REG_BINARY, REG_DWORD, REG_MULTI_SZ, REG_QWORD = 1, 2, 3, 4, 7, 11

    def __init__(self, keys: dict[str, list[tuple[str, object, int]]]) -> None:
        self.keys = keys
        self.closed: list[str] = []

    def OpenKey(self, root: int, subkey: str) -> str:
        assert root == self.HKEY_LOCAL_MACHINE
        if subkey not in self.keys:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return subkey

    def EnumValue(self, key: str, index: int) -> tuple[str, object, int]:
        values = self.keys[key]
        if index >= len(values):
            raise OSError(259, "No more data is available")
        return values[index]

    def ExpandEnvironmentStrings(self, value: str) -> str:
        return value.replace("%USERNAME%", "erika")

    def CloseKey(self, key: str) -> None:
        self.closed.append(key)


def test_registry_policy_is_read_and_typed() -> None:
    from agent.config import POLICY_REGISTRY_KEY, read_policy_registry

    reg = FakeWinreg(
        {
            POLICY_REGISTRY_KEY: [
                ("hub_urls", ["ws://hub-a/ws/agent", "ws://hub-b/ws/agent"], 7),
                ("hotkey_level", 3, 4),
                ("allow_quit", 0, 4),
                ("hotkey", "ctrl+alt+x", 1),
                ("log_dir", r"C:\Users\%USERNAME%\logs", 2),
            ]
        }
    )
    values = read_policy_registry(winreg=reg)
    assert values == {
        "hub_urls": ["ws://hub-a/ws/agent", "ws://hub-b/ws/agent"],
        "hotkey_level": 3,
        "allow_quit": 0,
        "hotkey": "ctrl+alt+x",
        "log_dir": r"C:\Users\erika\logs",
    }
    assert reg.closed == [POLICY_REGISTRY_KEY]
    assert read_policy_registry(winreg=FakeWinreg({})) is None  # no policy key: no policy


def test_registry_policy_locks_keys_and_names_the_key_on_errors(tmp_path: Path) -> None:
    from agent.config import POLICY_REGISTRY_KEY, read_policy_registry

    reg = FakeWinreg({POLICY_REGISTRY_KEY: [("hotkey_level", 3, 4), ("sound", 0, 4)]})
    path = write(tmp_path, MINIMAL + "hotkey_level = 1\n")
    config = load_config(path, environ={}, registry=lambda key: read_policy_registry(key, reg))
    assert config.hotkey_level is AlarmLevel.DANGER
    assert config.sound is False
    assert config.locked_keys == frozenset({"hotkey_level", "sound"})
    assert config.source_of("sound") == r"HKLM\SOFTWARE\Policies\SilentAlarm\Agent"

    bad = FakeWinreg({POLICY_REGISTRY_KEY: [("hotkey_level", 9, 4)]})
    with pytest.raises(ConfigError, match=r"config key 'hotkey_level'.*HKLM\\SOFTWARE"):
        load_config(path, environ={}, registry=lambda key: read_policy_registry(key, bad))
    binary = FakeWinreg({POLICY_REGISTRY_KEY: [("token", b"\x00", 3)]})
    with pytest.raises(ConfigError, match="config key 'token': unsupported registry type"):
        load_config(path, environ={}, registry=lambda key: read_policy_registry(key, binary))


def test_a_hotkey_the_desktop_cannot_deliver_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agent.config.sys.platform", "linux")
    with pytest.raises(
        ConfigError, match="config key 'hotkey': hotkey 'f21': F21 cannot be received"
    ):
        load_config(write(tmp_path, MINIMAL + 'hotkey = "f21"\n'), environ={})
    with pytest.raises(ConfigError, match=r"config key 'hotkey_danger'.*F24"):
        load_config(write(tmp_path, MINIMAL + 'hotkey_danger = "shift+f24"\n'), environ={})


def test_not_protected_timings_default_and_bounds(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert (config.tray_wait_s, config.not_protected_delay_s) == (30.0, 10.0)
    assert config.not_protected_reminder_s == 300.0
    with pytest.raises(ConfigError, match="not_protected_reminder_s"):
        load_config(write(tmp_path, MINIMAL + "not_protected_reminder_s = 0\n"), environ={})


def test_the_duress_chord_is_off_unless_set_and_a_policy_may_set_it(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert (config.hotkey_duress, config.duress_chord, config.cancel_menu_duress) == (
        "",
        None,
        False,
    )
    policy = 'hotkey_duress = "Ctrl+Alt+Shift+Z"\ncancel_menu_duress = true\n'
    env = layered(tmp_path / "b", MINIMAL, None, policy)
    config = load_config(tmp_path / "b" / "agent.toml", environ=env)
    assert str(config.duress_chord) == "ctrl+alt+shift+z"
    assert config.cancel_menu_duress
    # Locked by the policy, but never named on screen: the status shows the other keys.
    assert {"hotkey_duress", "cancel_menu_duress"} <= config.locked_keys
    assert not {"hotkey_duress", "cancel_menu_duress"} & config.shown_locked_keys


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('hotkey_duress = "z"', "config key 'hotkey_duress'.*modifier"),
        ('hotkey_duress = "ctrl+alt+f2"', "config key 'hotkey_duress'.*console"),
        ('hotkey_duress = "alt+ctrl+p"', "hotkey_duress must differ"),
        ('hotkey_duress = "ctrl+shift+alt+p"', "hotkey_duress must differ"),
        ('cancel_menu_duress = "maybe"', "config key 'cancel_menu_duress'"),
    ],
)
def test_a_bad_duress_chord_names_the_key(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, MINIMAL + line), environ={})


def test_peer_port_and_bind_address_default_and_bounds(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert (config.peer_port, config.bind_address) == (48330, None)
    config = load_config(
        write(tmp_path, MINIMAL + 'peer_port = 0\nbind_address = "10.0.0.7"\n'), environ={}
    )
    assert (config.peer_port, config.bind_address) == (0, "10.0.0.7")
    with pytest.raises(ConfigError, match="config key 'peer_port'"):
        load_config(write(tmp_path, MINIMAL + "peer_port = 70000\n"), environ={})
    with pytest.raises(ConfigError, match="config key 'bind_address': 'pc-7' is not an IP"):
        load_config(write(tmp_path, MINIMAL + 'bind_address = "pc-7"\n'), environ={})
