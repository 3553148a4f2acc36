"""The pages' Content-Security-Policy refuses eval, and the pages run under it in Chromium.

Every other console test checks the second half on its own pages too: the
`page_errors` fixture (tests/support/browser.py) fails it on a CSP violation or an Alpine error.
"""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from dispatch.web.console.admin import FLOOR_PAGE, PAGES
from tests.support.hub import RunningHub
from tests.support.page_errors import PageErrors

API = "/api/v1"


def page_paths(api: httpx.Client) -> list[str]:
    """The console, its statistics and every admin page, the floor page included."""
    floor = api.get(f"{API}/floors").json()[0]["id"]
    return [
        "/console",
        "/console/statistics",
        *(page.path for page in PAGES),
        f"{FLOOR_PAGE.path}/{floor}",
    ]


def directives(policy: str) -> dict[str, list[str]]:
    """The policy's directives: "script-src 'self'; …" → {"script-src": ["'self'"], …}."""
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {words[0]: words[1:] for words in parts}


def test_no_page_allows_eval_or_inline_script(
    admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    with httpx.Client(base_url=demo_hub.url) as anonymous:
        responses = [anonymous.get("/login")]
    responses += [admin_api.get(path) for path in page_paths(admin_api)]
    for response in responses:
        path = response.url.path
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert "unsafe-eval" not in policy, path
        assert directives(policy)["script-src"] == ["'self'"], path


def test_every_page_runs_in_chromium_without_a_csp_violation_or_alpine_error(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub, page_errors: PageErrors
) -> None:
    page = admin_page
    for path in page_paths(admin_api):
        page.goto(f"{demo_hub.url}{path}")
        # Alpine removes x-cloak once it has started on the page.
        expect(page.locator("[x-cloak]")).to_have_count(0)
        page.wait_for_load_state("networkidle")
        assert page_errors.take() == [], path


def test_the_browser_refuses_eval_and_the_tests_hear_of_it(
    logged_in_page: Page, page_errors: PageErrors
) -> None:
    """The policy holds in Chromium itself, and page_errors catches what breaks it."""
    page = logged_in_page
    # From a timer: while Playwright's own evaluate runs, DevTools lifts the policy.
    with page.expect_console_message(lambda message: "refused eval" in message.text):
        refused = page.evaluate(
            """() => new Promise((resolve) => setTimeout(() => {
                try { resolve(new Function('return "ran"')()); } catch (e) { resolve(e.name); }
            }))"""
        )
    assert refused == "EvalError"
    assert page_errors.take() == [
        f"console.error on {page.url}: Content Security Policy refused eval (script-src)"
    ]
    # An expression Alpine's standard build ran and the CSP build cannot parse (a template
    # literal), added the way a template would add it.
    with page.expect_event("pageerror"):  # Alpine warns, then rethrows from a timer
        page.evaluate(
            """() => {
                const probe = document.createElement('span');
                probe.setAttribute('x-data', '');
                probe.setAttribute('x-text', '`${1}`');
                document.body.append(probe);
            }"""
        )
    seen = page_errors.take()
    assert any("Alpine Expression Error: CSP Parser Error" in line for line in seen), seen
