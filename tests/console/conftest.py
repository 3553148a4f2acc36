"""The console against a real hub: agents as plain WebSockets beside the browser.

The browser fixtures (`page`, `logged_in_page`) come from tests/support/browser.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page

from tests.support.browser import log_in_as
from tests.support.hub import RunningHub
from tests.support.operators import ADMIN, api_client
from tests.support.syncclient import TestAgent


@pytest.fixture
def agents(demo_hub: RunningHub) -> Iterator[Callable[..., TestAgent]]:
    """``agents("pc-1-01")`` connects that demo workstation; all are closed afterwards."""
    opened: list[TestAgent] = []

    def open_agent(workstation_id: str, user: str | None = None) -> TestAgent:
        agent = TestAgent(demo_hub, workstation_id, user)
        opened.append(agent)
        return agent

    yield open_agent
    for agent in opened:
        agent.close()


def row_of(page: Page, alarm_id: object) -> Locator:
    """The alarm's row in the active list (a Playwright locator)."""
    return page.get_by_test_id("active-alarms").locator(f'[data-alarm-id="{alarm_id}"]')


# --- admin pages (D) -----------------------------------------------------------------


@pytest.fixture
def demo_hub_template(request: pytest.FixtureRequest, demo_template: Path) -> Path:
    """A test with the admin (``admin_api``, ``admin_page``) gets its hub on
    ``admin_template``."""
    if "admin_api" in request.fixturenames:
        return Path(request.getfixturevalue("admin_template"))
    return demo_template


@pytest.fixture
def admin_api(demo_hub: RunningHub) -> Iterator[httpx.Client]:
    """The demo hub plus an admin made with the CLI (once per session in ``admin_template``,
    which ``demo_hub_template`` starts this hub on); an API client with that admin's session."""
    with api_client(demo_hub, *ADMIN) as client:
        yield client


@pytest.fixture
def admin_page(page: Page, demo_hub: RunningHub, admin_api: httpx.Client) -> Page:
    """A browser page logged in as the admin (the console first, as after a real login)."""
    log_in_as(page, demo_hub, *ADMIN)
    return page
