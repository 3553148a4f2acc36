"""Fixtures shared by every test layer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hub import RunningHub, start_demo_hub

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
