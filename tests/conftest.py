"""Fixtures shared by every test layer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.hub import RunningHub, start_demo_hub

if TYPE_CHECKING:  # imported at run time it would load the xserver plugin before pytest does
    from tests.support.agentproc import RunningAgent

# Fixtures every folder may use: `xservers` (X displays), `page` and `logged_in_page` (Chromium).
pytest_plugins = ["tests.support.xserver", "tests.support.browser"]


@pytest.fixture
def demo_hub(tmp_path: Path) -> Iterator[RunningHub]:
    """A real hub process with the demo site, fast heartbeats, on its own port and database."""
    hub = start_demo_hub(
        tmp_path / "hub",
        env={
            "SILENT_ALARM_HEARTBEAT_INTERVAL": "1",
            "SILENT_ALARM_REDELIVER_INTERVAL": "0.5",
            "SILENT_ALARM_HANDSHAKE_TIMEOUT": "2",
        },
    )
    yield hub
    hub.stop()


@pytest.fixture
def agents() -> Iterator[list[RunningAgent]]:
    """Real agent processes a test started; each is stopped at the end."""
    running: list[RunningAgent] = []
    yield running
    for agent in running:
        agent.stop()
