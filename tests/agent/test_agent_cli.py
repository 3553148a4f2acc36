"""The agent command line: ``trigger`` exit codes, and a core that imports neither Qt nor pynput."""

from __future__ import annotations

import socket
from pathlib import Path

from agent.outbox import Outbox
from shared.domain import AlarmLevel, Trigger
from shared.protocol import RaiseAlarm
from tests.support.agentproc import write_agent_config
from tests.support.commands import agent_cli
from tests.support.fakehub import fake_hub
from tests.support.fresh_interpreter import run_python


def test_trigger_exits_0_once_stored(tmp_path: Path) -> None:
    with fake_hub() as hub:
        config = write_agent_config(
            tmp_path / "agent.toml", hub_urls=[hub.url], workstation_id="pc-1", token="t"
        )
        env = {"SILENT_ALARM_AGENT_CONFIG": str(config)}
        result = agent_cli("trigger", "--level", "3", env=env)
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
    result = agent_cli("trigger", "--config", str(config))
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        "Alarm nicht zugestellt – bitte telefonisch Hilfe holen"
    ]
    outbox = Outbox(tmp_path / "data")
    pending = outbox.pending()
    outbox.close()
    assert [(a.level, a.trigger) for a in pending] == [(AlarmLevel.THREAT, Trigger.CLI)]


def test_no_config_exits_2(tmp_path: Path) -> None:
    result = agent_cli("run")  # agent_cli passes no SILENT_ALARM_AGENT_CONFIG on
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "SILENT_ALARM_AGENT_CONFIG" in result.stderr


def test_core_imports_neither_qt_nor_pynput() -> None:
    core = "agent.cli agent.trigger agent.link agent.outbox agent.config agent.chord"
    core += " agent.feedback agent.hotkey agent.backoff agent.i18n agent.logs"
    core += " agent.countdown agent.sound agent.hotkey_windows agent.notice agent.selftest"
    core += " agent.feedback_text agent.hotkey_backend agent.raise_control agent.status_text"
    core += " agent.remote_session"
    script = (
        f"import importlib, sys\nfor m in {core.split()!r}: importlib.import_module(m)\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'pynput'))]\n"
        "assert not bad, bad\n"
    )
    run_python(script)  # exits 0 without a display


def with_policy(tmp_path: Path, policy_text: str) -> tuple[Path, Path, dict[str, str]]:
    """An agent config with no reachable hub, and the environment that sets a policy file."""
    config = write_agent_config(
        tmp_path / "agent.toml",
        hub_urls=["ws://127.0.0.1:9/ws/agent"],
        workstation_id="pc-1",
        token="t",
    )
    policy = tmp_path / "policy.toml"
    policy.write_text(policy_text, encoding="utf-8")
    return config, policy, {"SILENT_ALARM_AGENT_POLICY": str(policy)}


def test_status_without_a_running_agent_exits_1_and_lists_policy_locks(tmp_path: Path) -> None:
    config, _policy, env = with_policy(tmp_path, "hotkey_level = 3\nallow_quit = false\n")
    result = agent_cli("status", "--config", str(config), env=env)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "Stiller Alarm läuft nicht – nicht geschützt",
        "Per Richtlinie festgelegt: allow_quit, hotkey_level",
    ]
    shown = agent_cli("show", "--config", str(config), env=env)
    assert shown.returncode == 1
    assert shown.stderr.strip() == "Stiller Alarm läuft nicht – nicht geschützt"


def test_bad_policy_file_exits_2_naming_key_and_file(tmp_path: Path) -> None:
    config, policy, env = with_policy(tmp_path, 'tray_click = "never"\n')
    result = agent_cli("trigger", "--config", str(config), env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "'tray_click'" in lines[0]
    assert str(policy) in lines[0]


def test_cli_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    path = write_agent_config(
        tmp_path / "agent.toml",
        hub_urls=["ws://127.0.0.1:8000/ws/agent"],
        workstation_id="ws-101",
        token="s3cret-token",
        hotkey_level=9,
    )
    result = agent_cli("trigger", "--config", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "hotkey_level" in lines[0]
    assert "s3cret-token" not in result.stderr
