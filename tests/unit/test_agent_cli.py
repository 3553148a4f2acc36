"""The agent command line: ``trigger`` exit codes, and a core that imports neither Qt nor pynput."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from agent.outbox import Outbox
from shared.domain import AlarmLevel, Trigger
from shared.protocol import RaiseAlarm
from tests.support.agentproc import write_agent_config
from tests.support.fakehub import fake_hub


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )


def test_trigger_exits_0_once_stored(tmp_path: Path) -> None:
    with fake_hub() as hub:
        config = write_agent_config(
            tmp_path / "agent.toml", hub_urls=[hub.url], workstation_id="pc-1", token="t"
        )
        env = {**os.environ, "SILENT_ALARM_AGENT_CONFIG": str(config)}
        result = run_cli("trigger", "--level", "3", env=env)
        assert result.returncode == 0, result.stderr
        raised = hub.wait_for(lambda m: isinstance(m, RaiseAlarm))
    assert isinstance(raised, RaiseAlarm)
    assert (raised.level, raised.trigger) == (AlarmLevel.DANGER, Trigger.CLI)
    outbox = Outbox(tmp_path / "data")
    assert outbox.pending() == []
    outbox.close()


def test_trigger_without_hub_exits_3_and_keeps_the_alarm(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = write_agent_config(
        tmp_path / "agent.toml",
        hub_urls=[f"ws://127.0.0.1:{port}/ws/agent"],
        workstation_id="pc-1",
        token="t",
    )
    result = run_cli("trigger", "--config", str(config))
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        "Alarm nicht zugestellt – bitte telefonisch Hilfe holen"
    ]
    outbox = Outbox(tmp_path / "data")
    pending = outbox.pending()
    outbox.close()
    assert [(a.level, a.trigger) for a in pending] == [(AlarmLevel.THREAT, Trigger.CLI)]


def test_no_config_exits_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SILENT_ALARM_AGENT_CONFIG"}
    result = run_cli("run", env=env)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "SILENT_ALARM_AGENT_CONFIG" in result.stderr


def test_core_imports_neither_qt_nor_pynput() -> None:
    core = "agent.cli agent.trigger agent.link agent.outbox agent.config agent.chord"
    core += " agent.feedback agent.hotkey agent.backoff agent.i18n agent.logs"
    core += " agent.countdown agent.sound agent.hotkey_windows agent.notice agent.selftest"
    core += " agent.feedback_text agent.hotkey_backend agent.raise_control agent.status_text"
    script = (
        f"import importlib, sys\nfor m in {core.split()!r}: importlib.import_module(m)\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'pynput'))]\n"
        "assert not bad, bad\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, env=env
    )
    assert result.returncode == 0, result.stderr


def test_status_without_a_running_agent_exits_1_and_lists_policy_locks(tmp_path: Path) -> None:
    config = write_agent_config(
        tmp_path / "agent.toml",
        hub_urls=["ws://127.0.0.1:9/ws/agent"],
        workstation_id="pc-1",
        token="t",
    )
    policy = tmp_path / "policy.toml"
    policy.write_text("hotkey_level = 3\nallow_quit = false\n", encoding="utf-8")
    env = {**os.environ, "SILENT_ALARM_AGENT_POLICY": str(policy)}
    result = run_cli("status", "--config", str(config), env=env)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "Stiller Alarm läuft nicht – nicht geschützt",
        "Per Richtlinie festgelegt: allow_quit, hotkey_level",
    ]
    shown = run_cli("show", "--config", str(config), env=env)
    assert shown.returncode == 1
    assert shown.stderr.strip() == "Stiller Alarm läuft nicht – nicht geschützt"


def test_bad_policy_file_exits_2_naming_key_and_file(tmp_path: Path) -> None:
    config = write_agent_config(
        tmp_path / "agent.toml",
        hub_urls=["ws://127.0.0.1:9/ws/agent"],
        workstation_id="pc-1",
        token="t",
    )
    policy = tmp_path / "policy.toml"
    policy.write_text('tray_click = "never"\n', encoding="utf-8")
    env = {**os.environ, "SILENT_ALARM_AGENT_POLICY": str(policy)}
    result = run_cli("trigger", "--config", str(config), env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "'tray_click'" in lines[0]
    assert str(policy) in lines[0]
