"""Debian's Chromium through Playwright, and the console login, for browser tests.

Playwright cannot download browsers here, so it drives /usr/bin/chromium.
Registered as a pytest plugin in tests/conftest.py: the fixtures below are
available to every test folder.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.support.hub import RunningHub
from tests.support.page_errors import PageErrors

CHROMIUM = "/usr/bin/chromium"
# expect() has its own 5 s default, separate from the context's: a busy 2-core machine
# running the hub, agents and Chromium at once needs the same 10 s bound for both.
expect.set_options(timeout=10_000)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    # Without these Chromium keeps dialing Google's hosts on this closed network.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
GUARD_PC = {"width": 1366, "height": 768}
_watchers: dict[int, PageErrors] = {}  # id(browser_context) -> its watcher, while open


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def chromium(playwright_driver: Playwright) -> Iterator[Browser]:
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    yield browser
    browser.close()


@pytest.fixture
def browser_context(chromium: Browser) -> Iterator[BrowserContext]:
    context = chromium.new_context(
        viewport=GUARD_PC,  # type: ignore[arg-type]
        locale="de-DE",
        timezone_id="Europe/Berlin",
    )
    context.set_default_timeout(10_000)
    errors = PageErrors(context)
    _watchers[id(context)] = errors
    try:
        yield context
        # A test whose pages logged a CSP violation, an Alpine error or an uncaught
        # exception fails, however the test itself went.
        errors.assert_none()
    finally:
        del _watchers[id(context)]
        context.close()


@pytest.fixture
def page_errors(browser_context: BrowserContext) -> PageErrors:
    """What the test's pages reported so far (a test that provokes an error takes it)."""
    return _watchers[id(browser_context)]


@pytest.fixture
def page(browser_context: BrowserContext) -> Page:
    return browser_context.new_page()


def log_in(
    page: Page, hub: RunningHub, password: str | None = None, username: str | None = None
) -> None:
    """Fills the real login form (as the demo guard unless told otherwise) and submits it."""
    page.goto(f"{hub.url}/login")
    page.get_by_label("Benutzername").fill(username or hub.login.username)
    page.get_by_label("Passwort").fill(password if password is not None else hub.login.password)
    page.get_by_role("button", name="Anmelden").click()


def log_in_as(page: Page, hub: RunningHub, username: str, password: str) -> None:
    """Logs in as any operator and waits for the console."""
    log_in(page, hub, password, username)
    expect(page).to_have_url(f"{hub.url}/console")


@pytest.fixture
def logged_in_page(page: Page, demo_hub: RunningHub) -> Page:
    """The console of the demo guard "wache", connected to the hub and showing its snapshot."""
    log_in(page, demo_hub)
    expect(page).to_have_url(f"{demo_hub.url}/console")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "open")
    return page
