"""Agent shell tests: Qt widgets offscreen in-process, the real agent on Xvfb in subprocesses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.agentproc import RunningAgent


@pytest.fixture(scope="session")
def qapp_args() -> list[str]:
    # In-process widgets need no display; X11 behaviour is tested with real agent processes.
    return ["silent-alarm-tests", "-platform", "offscreen"]


@pytest.fixture
def agents() -> Iterator[list[RunningAgent]]:
    """Real agent processes a test started; each is stopped at the end."""
    running: list[RunningAgent] = []
    yield running
    for agent in running:
        agent.stop()
