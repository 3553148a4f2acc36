"""A hub without Web Push: the console does not ask for a key it cannot have.

Before, every console of such a hub fetched ``/api/v1/webpush/key``, got 404 and Chromium
logged "Failed to load resource" as an error on each load; the guards' browsers showed an
error for a setting the admin had simply not made.
"""

from __future__ import annotations

from playwright.sync_api import ConsoleMessage, Page, Request, expect

from tests.support.browser import log_in
from tests.support.hub import RunningHub


def test_a_console_on_a_hub_without_web_push_makes_no_push_request(
    page: Page, demo_hub: RunningHub
) -> None:
    push_requests: list[str] = []
    errors: list[str] = []

    def on_request(request: Request) -> None:
        if "/api/v1/webpush/" in request.url:
            push_requests.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("request", on_request)
    page.on("console", on_console)
    log_in(page, demo_hub)
    expect(page).to_have_url(f"{demo_hub.url}/console")
    # The push control has decided (its first state is "checking") once it shows this:
    expect(page.get_by_test_id("push-control")).to_have_attribute("data-state", "unconfigured")
    expect(page.get_by_test_id("push-toggle")).to_be_hidden()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "open")
    assert push_requests == []
    assert errors == []
