"""Debian's Chromium through Playwright (Playwright cannot download browsers here)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.hub import RunningHub

CHROMIUM = "/usr/bin/chromium"
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


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def log_in_to_console(page: Page, hub: RunningHub) -> None:
    """As the demo guard; returns once the console's live connection is open."""
    login = hub.login
    page.goto(f"{hub.url}/login")
    page.fill("#username", login.username)
    page.fill("#password", login.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{hub.url}/console")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "open")
