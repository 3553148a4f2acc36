"""Fixtures shared by every test layer."""

from __future__ import annotations

import compileall
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.hub import RunningHub, copy_demo_template, make_demo_template, start_demo_hub
from tests.support.operators import ADMIN, add_operator_in

if TYPE_CHECKING:  # imported at run time it would load the xserver plugin before pytest does
    from tests.support.agentproc import RunningAgent

# Fixtures every folder may use: `xservers` (X displays), `page` and `logged_in_page` (Chromium),
# `desktop_user` (an unprivileged account to run the agent as).
pytest_plugins = ["tests.support.xserver", "tests.support.browser", "tests.support.desktop_user"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Bytecode for the processes the suite starts. With PYTHONDONTWRITEBYTECODE set (as
    on the shared test machine) no process writes any, so every hub, CLI command and
    agent (hundreds in a full run) compiled the project's modules from source again,
    ~0.2 s of CPU each. They are compiled here once; a process compiles only what
    changed since (the stamps are the sources' times)."""
    if sys.flags.dont_write_bytecode:
        root = Path(__file__).resolve().parents[1]
        for package in ("shared", "dispatch", "agent"):
            compileall.compile_dir(root / package, quiet=1)


@pytest.fixture
def demo_hub_env() -> dict[str, str]:
    """The test hub's settings: fast heartbeats and re-sends. A test that needs other
    values parametrizes this fixture (``@pytest.mark.parametrize("demo_hub_env", …)``)."""
    return {
        "SILENT_ALARM_HEARTBEAT_INTERVAL": "1",
        "SILENT_ALARM_REDELIVER_INTERVAL": "0.5",
        "SILENT_ALARM_HANDSHAKE_TIMEOUT": "2",
    }


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo site's data dir as the real ``python -m dispatch demo`` first made it, once
    per session; each ``demo_hub`` starts on a copy (no migrations or seeding per test)."""
    return make_demo_template(tmp_path_factory.mktemp("demo-template") / "hub")


@pytest.fixture(scope="session")
def admin_template(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo template plus the admin login (tests.support.operators.ADMIN), made with
    ``operator add`` on its data dir as on a real server, once per session."""
    data_dir = tmp_path_factory.mktemp("admin-template") / "hub"
    copy_demo_template(demo_template, data_dir)
    add_operator_in(data_dir, *ADMIN, "admin")
    return data_dir


@pytest.fixture
def demo_hub_template(demo_template: Path) -> Path:
    """The data dir ``demo_hub`` starts on a copy of; a folder's conftest.py may give a test
    ``admin_template`` instead (tests/api, tests/console: the tests with the admin)."""
    return demo_template


@pytest.fixture
def demo_hub(
    tmp_path: Path, demo_hub_env: dict[str, str], demo_hub_template: Path
) -> Iterator[RunningHub]:
    """A real hub process with the demo site, on its own port and a copy of the demo's
    store (same site, tokens and logins in every test; nothing one test does is seen by
    another)."""
    hub = start_demo_hub(tmp_path / "hub", env=demo_hub_env, template=demo_hub_template)
    yield hub
    hub.stop()


@pytest.fixture
def agents() -> Iterator[list[RunningAgent]]:
    """Real agent processes a test started; each is stopped at the end."""
    running: list[RunningAgent] = []
    yield running
    for agent in running:
        agent.stop()
