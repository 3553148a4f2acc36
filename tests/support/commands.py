"""The project's command lines run as an operator runs them, their output captured.

The child gets the test's environment without its ``SILENT_ALARM_*`` settings (a
developer's shell may hold some) and without proxies (loopback only), plus ``env``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def command_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """os.environ without settings of the project or proxies, plus ``env``."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SILENT_ALARM_") and key not in PROXY_VARS
    }
    return {**clean, **(env or {})}


def run_module(
    module: str,
    *args: str,
    stdin: str = "",
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=command_env(env),
        cwd=cwd,
    )


def dispatch_cli(
    *args: str, stdin: str = "", env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``silent-alarm-dispatch``; a data dir or database comes in ``env``."""
    return run_module("dispatch", *args, stdin=stdin, env=env, cwd=cwd)


def agent_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``silent-alarm-agent``; a config path comes in the arguments or ``env``."""
    return run_module("agent.cli", *args, env=env)
