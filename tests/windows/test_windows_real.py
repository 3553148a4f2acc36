"""The Windows-only layer: the real RegisterHotKey, DPAPI and registry policy (hosted runner).

Run by .github/workflows/windows.yml on windows-latest; everywhere else these tests are
collected and skipped. On Linux the same code runs against stand-ins for ``user32``,
``crypt32`` and ``winreg`` (tests/unit/test_agent_{hotkey,secret_store,config}.py).
Each test and helper begins with a skip off Windows: the mark has skipped it already,
and it tells mypy that what follows is Windows code (checked there, not here).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.config import POLICY_ENV, POLICY_REGISTRY_KEY, admin_places, load_config
from tests.support.commands import agent_cli
from tests.support.hub import RunningHub, start_demo_hub
from tests.support.waiting import wait_until

pytestmark = pytest.mark.skipif(
    sys.platform != "win32", reason="Windows APIs: run by .github/workflows/windows.yml"
)
RAISER = "pc-1-01"


def _user_file(tmp_path: Path, hub: RunningHub | None = None) -> Path:
    values: dict[str, Any] = (
        hub.agent_config(RAISER) if hub else {"workstation_id": RAISER, "token": "t"}
    )
    values.setdefault("hub_urls", ["ws://127.0.0.1:9/ws/agent"])
    values.update(
        data_dir=str(tmp_path / "data"),
        log_dir=str(tmp_path / "logs"),
        peer_port=0,
        self_test_interval_h=0,
    )
    path = tmp_path / "agent.toml"
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()), "utf-8")
    return path


@pytest.fixture
def policy_key() -> Iterator[None]:
    """The real HKLM policy key (the runner's account is an Administrator), removed after."""
    if sys.platform != "win32":  # the skip mark's: mypy checks what follows on Windows only
        pytest.skip("Windows only")
    import winreg

    key = winreg.CreateKeyEx(winreg.HKEY_LOCAL_MACHINE, POLICY_REGISTRY_KEY, 0, winreg.KEY_WRITE)
    with key:
        winreg.SetValueEx(key, "allow_quit", 0, winreg.REG_DWORD, 0)
        winreg.SetValueEx(key, "hotkey_level", 0, winreg.REG_DWORD, 3)
        winreg.SetValueEx(key, "log_dir", 0, winreg.REG_EXPAND_SZ, r"%TEMP%\silent-alarm-logs")
    yield
    winreg.DeleteKey(winreg.HKEY_LOCAL_MACHINE, POLICY_REGISTRY_KEY)


def test_the_registry_policy_beats_a_users_policy_variable(
    tmp_path: Path, policy_key: None
) -> None:
    if sys.platform != "win32":  # the skip mark's: mypy checks what follows on Windows only
        pytest.skip("Windows only")
    mine = tmp_path / "mine.toml"
    mine.write_text("allow_quit = true\nhotkey_level = 1\n", encoding="utf-8")
    config = load_config(_user_file(tmp_path), environ={POLICY_ENV: str(mine)})
    assert config.allow_quit is False
    assert config.hotkey_level == 3
    assert config.source_of("allow_quit") == rf"HKLM\{POLICY_REGISTRY_KEY}"
    assert "%" not in str(config.log_dir)  # REG_EXPAND_SZ expanded
    # The real command, with the variable set as a user would set it.
    done = agent_cli("status", "--config", str(_user_file(tmp_path)), env={POLICY_ENV: str(mine)})
    assert done.returncode == 1  # no agent running
    assert "allow_quit, hotkey_level" in done.stdout


def test_program_data_is_the_shells_not_the_users_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if sys.platform != "win32":  # the skip mark's: mypy checks what follows on Windows only
        pytest.skip("Windows only")
    real = admin_places().machine_dir
    monkeypatch.setenv("PROGRAMDATA", str(tmp_path))
    monkeypatch.setenv("WIN_PD_OVERRIDE_CSIDL_COMMON_APPDATA", str(tmp_path))
    assert admin_places().machine_dir == real
    assert real.parts[-2:] == ("SilentAlarm", "agent.d")


def test_dpapi_seals_for_this_machine_and_refuses_a_damaged_seal(tmp_path: Path) -> None:
    if sys.platform != "win32":  # the skip mark's: mypy checks what follows on Windows only
        pytest.skip("Windows only")
    from agent.secret_store import SecretStoreError, protect, reveal

    sealed = protect("device-secret-123")
    assert sealed.startswith("dpapi:")
    assert "device-secret-123" not in sealed
    assert reveal(sealed) == "device-secret-123"
    damaged = sealed[:-8] + ("A" * 8 if not sealed.endswith("A" * 8) else "B" * 8)
    with pytest.raises(SecretStoreError):
        reveal(damaged)
    path = _user_file(tmp_path)
    text = path.read_text(encoding="utf-8").replace('token = "t"', f'token = "{sealed}"')
    path.write_text(text, encoding="utf-8")
    assert load_config(path, environ={}).token.get_secret_value() == "device-secret-123"


def _send_chord(*virtual_keys: int) -> None:
    """Press the keys in order and release them in reverse, with SendInput (a real keyboard)."""
    if sys.platform != "win32":  # the skip mark's: mypy checks what follows on Windows only
        pytest.skip("Windows only")
    import ctypes
    from ctypes import wintypes

    class KeyboardInput(ctypes.Structure):
        _fields_ = [
            ("wVk", wintypes.WORD),
            ("wScan", wintypes.WORD),
            ("dwFlags", wintypes.DWORD),
            ("time", wintypes.DWORD),
            ("dwExtraInfo", ctypes.c_size_t),
        ]

    class MouseInput(ctypes.Structure):  # the union's largest member sets INPUT's size
        _fields_ = [
            ("dx", wintypes.LONG),
            ("dy", wintypes.LONG),
            ("mouseData", wintypes.DWORD),
            ("dwFlags", wintypes.DWORD),
            ("time", wintypes.DWORD),
            ("dwExtraInfo", ctypes.c_size_t),
        ]

    class Union(ctypes.Union):
        _fields_ = [("ki", KeyboardInput), ("mi", MouseInput)]

    class Input(ctypes.Structure):
        _fields_ = [("type", wintypes.DWORD), ("u", Union)]

    keyup, keyboard = 0x0002, 1
    events = [(vk, 0) for vk in virtual_keys] + [(vk, keyup) for vk in reversed(virtual_keys)]
    inputs = (Input * len(events))()
    for item, (vk, flags) in zip(inputs, events, strict=True):
        item.type = keyboard
        item.u.ki = KeyboardInput(vk, 0, flags, 0, 0)
    sent = ctypes.windll.user32.SendInput(len(events), inputs, ctypes.sizeof(Input))
    assert sent == len(events), f"SendInput sent {sent} of {len(events)}"


def _alarms(hub: RunningHub) -> list[tuple[int, str]]:
    path = hub.data_dir / "dispatch.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
        rows = db.execute(
            "SELECT level, trigger FROM alarms WHERE workstation_id = ? AND kind = 'alarm'",
            (RAISER,),
        ).fetchall()
    return [(int(level), str(trigger)) for level, trigger in rows]


def test_a_chord_sent_as_keystrokes_raises_an_alarm_at_a_real_hub(tmp_path: Path) -> None:
    if sys.platform != "win32":  # the skip mark's: mypy checks what follows on Windows only
        pytest.skip("Windows only")
    hub = start_demo_hub(tmp_path / "hub")
    agent: subprocess.Popen[bytes] | None = None
    try:
        (tmp_path / "agent").mkdir()
        config = _user_file(tmp_path / "agent", hub)
        log = tmp_path / "agent" / "logs" / "agent.log"
        agent = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def logged(text: str) -> bool:
            return log.exists() and text in log.read_text(encoding="utf-8", errors="replace")

        wait_until(lambda: logged("(registerhotkey)"), 30, what="RegisterHotKey listening")
        wait_until(lambda: logged("connected to hub"), 30, what="connected")
        vk_control, vk_menu, vk_p = 0x11, 0x12, 0x50  # Ctrl, Alt, P
        _send_chord(vk_control, vk_menu, vk_p)
        wait_until(lambda: _alarms(hub) == [(2, "hotkey")], 15, what="the alarm at the hub")
    finally:
        if agent is not None:
            agent.kill()
            agent.wait(10)
        hub.stop()
