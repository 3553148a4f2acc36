"""Issue 16 at person level: a hub that cannot store says so on the employee's screen and the
guard's console, and stops saying so when space is back.

The hub's SQLite file lies on a real 8 MB tmpfs kept full by a filler
(tests/support/small_disk.py); the employee's real agent runs on Xvfb and
presses Strg+Alt+P, the guard's console runs in Chromium (watched by
``page_errors``). The hub-level proofs are in tests/integration/test_full_disk.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.agent.test_agent_unprotected import NOT_PROTECTED, config_for, status, windows
from tests.integration.test_full_disk import start_hub
from tests.support.agentproc import RunningAgent, start_agent
from tests.support.browser import log_in
from tests.support.hub import RunningHub
from tests.support.small_disk import DiskFiller, small_disk
from tests.support.waiting import wait_until
from tests.support.xserver import XServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

CANNOT_STORE = (
    "Nicht geschützt: Zentrale kann nicht speichern – im Notfall Telefon benutzen,"
    " bitte IT informieren"
)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[RunningHub, Path]]:
    with small_disk(tmp_path / "disk") as disk:
        running = start_hub(tmp_path / "hub", disk)
        yield running, disk
        running.stop()


def test_the_employee_and_the_guard_see_that_the_hub_cannot_store(
    hub: tuple[RunningHub, Path],
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
    page: Page,
    tmp_path: Path,
) -> None:
    running, disk = hub
    log_in(page, running)
    expect(page).to_have_url(f"{running.url}/console")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "open")
    banner = page.get_by_test_id("store-banner")
    expect(banner).to_be_hidden()

    x = xservers()
    config = config_for(tmp_path, running, "pc-1-01")
    agent = start_agent(config, x)
    agents.append(agent)
    agent.wait_for_log("health sent to hub: protected", timeout=20)
    agent.wait_for_log("hotkey listening", timeout=20)

    with DiskFiller(disk):
        since = agent.log_size()
        x.xdotool("key", "ctrl+alt+p")  # the employee raises an alarm: the hub cannot store it
        agent.wait_for_log("hub error internal", since=since, timeout=20)
        # The employee's screen: "Nicht geschützt" naming the hub's store; `status` too.
        agent.wait_for_log("not-protected window shown: .*hub_cannot_store", since=since)
        wait_until(lambda: windows(x, NOT_PROTECTED), 10, what="not-protected window on screen")
        result = status(x, config)
        assert result.returncode == 1, result.stdout + result.stderr
        assert CANNOT_STORE in result.stdout
        # The guard's console: the red banner, and the PC on the board names the reason.
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("Zentrale kann nicht speichern")
        page.get_by_role("tab", name=re.compile("Abdeckung")).click()
        chip = page.locator('[data-testid=workstation][data-workstation-id="pc-1-01"]')
        expect(chip.get_by_test_id("workstation-reasons")).to_contain_text(
            "Zentrale kann nicht speichern"
        )
        since = agent.log_size()
    # Space is back (the filler is deleted); the hub is not restarted.
    agent.wait_for_log("hub store: ok", since=since, timeout=10)
    agent.wait_for_log("not-protected window hidden: protected again", since=since)
    wait_until(lambda: not windows(x, NOT_PROTECTED), 5, what="not-protected window gone")
    expect(banner).to_be_hidden()
    expect(chip).not_to_have_attribute("data-status", "unprotected")
    assert status(x, config).returncode == 0
    assert agent.stop() == 0
