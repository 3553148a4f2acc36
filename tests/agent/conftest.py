"""Agent shell tests: Qt widgets offscreen in-process, the real agent on Xvfb in subprocesses."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def qapp_args() -> list[str]:
    # In-process widgets need no display; X11 behaviour is tested with real agent processes.
    return ["silent-alarm-tests", "-platform", "offscreen"]
