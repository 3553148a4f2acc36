"""Runs the real agent (``python -m agent.cli run``) as a subprocess on a test X display."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from agent.outbox import Outbox
from shared.protocol import RaiseAlarm
from tests.support.desktop_user import DesktopUser, python_for_others
from tests.support.waiting import wait_until
from tests.support.xserver import XServer

LOG_TAIL_LINES = 40
"""Lines of the agent's log a failed wait_for_log shows."""


def write_agent_config(path: Path, **values: object) -> Path:
    """A TOML agent config; data_dir and log_dir default to folders beside it.

    The scheduled self-test is off unless a test sets ``self_test_interval_h``:
    its test alarm would otherwise be the first message a scripted hub sees. The
    direct path between agents (issue 16) is off unless a test sets ``peer_port``:
    agents of one test on one address would alarm each other past the hub.
    """
    values.setdefault("peer_port", 0)
    values.setdefault("data_dir", str(path.parent / "data"))
    values.setdefault("log_dir", str(path.parent / "logs"))
    values.setdefault("self_test_interval_h", 0)
    lines = []
    for key, value in values.items():
        if isinstance(value, list):
            lines.append(f"{key} = [{', '.join(_quote(v) for v in value)}]")
        elif isinstance(value, int | float):
            lines.append(f"{key} = {value}")
        else:
            lines.append(f"{key} = {_quote(value)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _quote(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


@dataclass
class RunningAgent:
    process: subprocess.Popen[bytes]
    config_path: Path
    data_dir: Path
    log_path: Path
    _output: IO[bytes]

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_size(self) -> int:
        """Characters in the log now: pass as ``since`` to wait only for later lines."""
        return len(self.log())

    def wait_for_log(self, pattern: str, timeout: float = 10.0, since: int = 0) -> str:
        """The first log line matching pattern at or after offset since; fails if the agent died."""
        regex = re.compile(pattern)

        def probe() -> str | None:
            if self.process.poll() is not None:
                raise RuntimeError(f"agent exited with {self.process.returncode}:\n{self.log()}")
            lines = self.log()[since:].splitlines()
            return next((line for line in lines if regex.search(line)), None)

        try:
            return wait_until(probe, timeout, what=f"agent log line {pattern!r}")
        except TimeoutError as exc:
            # CI keeps no agent log: what the agent did instead is the failure's evidence.
            tail = "\n".join(self.log()[since:].splitlines()[-LOG_TAIL_LINES:])
            raise TimeoutError(f"{exc}; its log since then ends with:\n{tail}") from None

    def pending(self) -> list[RaiseAlarm]:
        """What the agent's outbox holds right now (read through a second connection)."""
        outbox = Outbox(self.data_dir)
        try:
            return outbox.pending()
        finally:
            outbox.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or a power cut."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self._output.close()

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after timeout; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._output.close()
        return self.process.returncode


def start_agent(config_path: Path, x: XServer, env: dict[str, str] | None = None) -> RunningAgent:
    """Start the tray agent on display x; returns at once (wait on its log for readiness)."""
    with config_path.open("rb") as handle:
        config = tomllib.load(handle)
    data_dir = Path(config["data_dir"])
    log_dir = Path(config["log_dir"])
    log_dir.mkdir(parents=True, exist_ok=True)
    output = (log_dir / "stdout-stderr.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "run", "--config", str(config_path)],
        env=x.env(**(env or {})),
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    return RunningAgent(process, config_path, data_dir, log_dir / "agent.log", output)


def agent_command_as(
    user: DesktopUser, x: XServer, *args: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """``silent-alarm-agent ARGS`` run by ``user`` (``status``, ``show``, ``trigger``)."""
    return subprocess.run(
        [python_for_others()[0], "-m", "agent.cli", *args],
        env=x.env(**user.env()),
        user=user.uid,
        group=user.gid,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_agent_as(user: DesktopUser, x: XServer) -> RunningAgent:
    """The tray agent as the autostart entry starts it at ``user``'s login: as that user,
    with none of root's groups, the per-user file as its config (the wrapper's default)."""
    output = (user.home / "stdout-stderr.log").open("ab")
    process = subprocess.Popen(
        [python_for_others()[0], "-m", "agent.cli", "run"],
        env=x.env(**user.env()),
        user=user.uid,
        group=user.gid,
        extra_groups=[],
        stdout=output,
        stderr=subprocess.STDOUT,
        cwd=user.home,
    )
    return RunningAgent(process, user.user_file, user.data_dir, user.log_dir / "agent.log", output)
