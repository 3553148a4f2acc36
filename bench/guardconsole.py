"""The guard console in Debian's Chromium for ``bench.hotkey --console``: logged in, stamping rows.

Chromium is driven through Playwright's async API, launched as the browser tests launch
it (tests/support/browser.py), and logs in through the real form as the demo hub's
operator. Before the page loads, an init script installs a MutationObserver that notes
``performance.timeOrigin + performance.now()`` (ms since the epoch, the system clock)
the first time an alarm's row (console.html: ``data-testid="alarm-row"``, with its
``data-alarm-id``) is in the DOM. The stamp is taken in the page, not when Playwright
gets round to asking, so the bench's own polling adds nothing to the figure.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import ConsoleMessage, Page, async_playwright

from bench.presstime import ClockCheck
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, GUARD_PC
from tests.support.hub import RunningHub

ROW = '[data-testid="alarm-row"]'  # console.html: one <li> per listed alarm, keyed by its id
ACTIVE_ROW = '[data-testid="active-alarms"] [data-alarm-id="{}"]'
WAIT_MS = 10_000  # as the browser tests: a busy 2-core machine runs hub, agents and Chromium

# Alpine's x-for inserts a row and binds its attributes in one go; the observer's
# callback runs as a microtask once the script that did it returns, so the stamp is
# taken right after the row was rendered into the DOM (before the frame that paints
# it). Attribute changes are watched too, in case a row is inserted first and gets
# its alarm id later.
STAMP_ROWS = """
(() => {
  const ROW = __ROW__;
  const seen = (window.__benchRowSeen = {});
  const note = (element, now) => {
    const id = element.getAttribute("data-alarm-id");
    if (id && !(id in seen)) seen[id] = now;
  };
  new MutationObserver((records) => {
    const now = performance.timeOrigin + performance.now();
    for (const record of records) {
      if (record.type === "attributes") {
        if (record.target.matches(ROW)) note(record.target, now);
        continue;
      }
      for (const node of record.addedNodes) {
        if (node.nodeType !== Node.ELEMENT_NODE) continue;
        if (node.matches(ROW)) note(node, now);
        node.querySelectorAll(ROW).forEach((row) => note(row, now));
      }
    }
  }).observe(document, {
    childList: true,
    subtree: true,
    attributes: true,
    attributeFilter: ["data-alarm-id"],
  });
})();
""".replace("__ROW__", json.dumps(ROW))

PAGE_CLOCKS = "() => [performance.timeOrigin + performance.now(), Date.now()]"
ROW_SEEN = "(id) => window.__benchRowSeen[id] !== undefined"
ROW_STAMP = "(id) => window.__benchRowSeen[id]"


class GuardConsole:
    """One logged-in console page with the row observer, and what it reported."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []  # uncaught exceptions and console errors of the page
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":  # a failed load names only its status: add the URL
            self.errors.append(f"console.error: {message.text} ({message.location['url']})")

    async def clock_check(self) -> ClockCheck:
        """The page's clock against the host's ``time.time()`` and its own ``Date.now()``."""
        before = time.time()
        page_ms, date_ms = await self.page.evaluate(PAGE_CLOCKS)
        after = time.time()
        return ClockCheck.of(before, float(page_ms), float(date_ms), after)

    async def row_seen_at(self, alarm_id: str) -> float:
        """When the alarm's row entered the DOM, ms since the epoch (waits for it)."""
        await self.page.wait_for_function(ROW_SEEN, arg=alarm_id, timeout=WAIT_MS, polling=20)
        return float(await self.page.evaluate(ROW_STAMP, alarm_id))

    async def wait_row_gone(self, alarm_id: str) -> None:
        """The resolved alarm has left the active list: the next press needs a row of its own."""
        await self.page.locator(ACTIVE_ROW.format(alarm_id)).wait_for(
            state="detached", timeout=WAIT_MS
        )


async def _log_in(page: Page, hub: RunningHub) -> None:
    """The real login form, as tests/support/browser.py's log_in fills it."""
    await page.goto(f"{hub.url}/login")
    await page.get_by_label("Benutzername").fill(hub.login.username)
    await page.get_by_label("Passwort").fill(hub.login.password)
    await page.get_by_role("button", name="Anmelden").click()
    await page.wait_for_url(f"{hub.url}/console", timeout=WAIT_MS)
    await page.locator('[data-testid="connection"][data-status="open"]').wait_for(timeout=WAIT_MS)


@asynccontextmanager
async def guard_console(hub: RunningHub) -> AsyncIterator[GuardConsole]:
    """Headless Chromium with the console open and connected; closed afterwards."""
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = await browser.new_context(
                viewport=GUARD_PC,  # type: ignore[arg-type]
                locale="de-DE",
                timezone_id="Europe/Berlin",
            )
            page = await context.new_page()
            console = GuardConsole(page)  # listening before the first page loads
            await page.add_init_script(STAMP_ROWS)
            await _log_in(page, hub)
            yield console
        finally:
            await browser.close()
