"""What Chromium reports from a browser context that no console page may cause.

A Content-Security-Policy violation (say, an `eval` the policy refuses), an
Alpine warning or expression error (an attribute expression the CSP build
cannot parse or run) and any uncaught exception. Alpine only logs such errors,
and the page goes on showing whatever was rendered before, so the tests watch
the browser's console for them: every browser test fails on one (tests/support/
browser.py: every ``browser_context`` is watched; fixture ``page_errors``).
"""

from __future__ import annotations

from playwright.sync_api import BrowserContext, ConsoleMessage, Error

# Chromium: "… violates the following Content Security Policy directive: …";
# Alpine: "Alpine Expression Error: …", "Alpine Warning: …".
FORBIDDEN_MESSAGES = ("Content Security Policy", "Alpine")
# Chromium logs nothing for an eval refused inside a try block; the page's own
# violation event sees every refusal. (An init script runs whatever the policy says.)
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`Content Security Policy refused ${event.blockedURI} (${event.violatedDirective})`);
});
"""


class PageErrors:
    """Collects the forbidden console messages and uncaught exceptions of a context's pages."""

    def __init__(self, context: BrowserContext) -> None:
        self.seen: list[str] = []
        context.add_init_script(REPORT_VIOLATIONS)
        context.on("console", self._console)
        context.on("weberror", lambda error: self._exception(error.error))

    def _console(self, message: ConsoleMessage) -> None:
        if any(marker in message.text for marker in FORBIDDEN_MESSAGES):
            where = message.page.url if message.page else "?"
            self.seen.append(f"console.{message.type} on {where}: {message.text}")

    def _exception(self, error: Error) -> None:
        self.seen.append(f"uncaught {error.name}: {error.message}")

    def take(self) -> list[str]:
        """What was seen so far, forgotten afterwards (for a test that provokes an error)."""
        seen, self.seen = self.seen, []
        return seen

    def assert_none(self) -> None:
        assert not self.seen, "the browser reported:\n" + "\n".join(self.seen)
