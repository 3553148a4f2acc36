"""The hub serving TLS itself: the real agent over wss://, the console over https:// in Chromium.

A private CA made for the test (tests/support/tls.py) stands in for the office's
CA. The agent trusts it through the operating system's store (truststore reads
OpenSSL's SSL_CERT_FILE on Linux, the Windows store on Windows); Chromium trusts
the server's key by its SPKI pin, as a browser of a managed PC trusts the
office's CA.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Playwright, expect

from tests.support.agentproc import RunningAgent, start_agent
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, GUARD_PC, log_in
from tests.support.hub import RunningHub, query, start_demo_hub
from tests.support.tls import TlsFiles, make_tls
from tests.support.waiting import wait_until
from tests.support.xserver import XServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_hub(tmp_path: Path, tls: TlsFiles, demo_template: Path) -> Iterator[RunningHub]:
    env = {"SILENT_ALARM_HEARTBEAT_INTERVAL": "1"}
    hub = start_demo_hub(tmp_path / "hub", env=env, tls=tls, template=demo_template)
    yield hub
    hub.stop()


@pytest.fixture
def pinned_chromium(playwright_driver: Playwright, tls: TlsFiles) -> Iterator[Browser]:
    pin = f"--ignore-certificate-errors-spki-list={tls.spki_pin()}"
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, pin], headless=True
    )
    yield browser
    browser.close()


def test_the_real_agent_raises_over_wss_with_the_offices_ca(
    tls_hub: RunningHub, tls: TlsFiles, xservers: Callable[..., XServer]
) -> None:
    assert tls_hub.agent_config("pc-1-01")["hub_urls"] == [tls_hub.agent_ws_url]
    assert tls_hub.agent_ws_url.startswith("wss://")
    x = xservers()
    agent: RunningAgent = start_agent(
        tls_hub.agent_config_path("pc-1-01"), x, env={"SSL_CERT_FILE": str(tls.ca)}
    )
    try:
        agent.wait_for_log("connected to hub", 30)
        agent.wait_for_log("hotkey listening", 30)
        x.xdotool("key", "ctrl+alt+p")
        wait_until(
            lambda: query(tls_hub, "SELECT count(*) FROM alarms WHERE kind = 'alarm'") == [(1,)],
            10,
            what="the alarm stored through wss://",
        )
    finally:
        agent.stop()


def test_an_agent_without_the_ca_is_not_fooled(
    tls_hub: RunningHub, xservers: Callable[..., XServer], tmp_path: Path
) -> None:
    """A hub (or an impostor) whose certificate the PC does not trust gets no connection."""
    x = xservers()
    empty_store = tmp_path / "empty.pem"
    empty_store.write_text("", encoding="ascii")
    agent = start_agent(
        tls_hub.agent_config_path("pc-1-02"), x, env={"SSL_CERT_FILE": str(empty_store)}
    )
    try:
        agent.wait_for_log("unreachable: SSLCertVerificationError", 30)
        assert "connected to hub" not in agent.log()
    finally:
        agent.stop()


def test_the_console_over_https_has_secure_cookies_and_hsts(
    tls_hub: RunningHub, pinned_chromium: Browser
) -> None:
    context = pinned_chromium.new_context(viewport=GUARD_PC, locale="de-DE")  # type: ignore[arg-type]
    try:
        page = context.new_page()
        log_in(page, tls_hub)
        expect(page).to_have_url(f"{tls_hub.url}/console")
        expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "open")
        (cookie,) = [c for c in context.cookies() if c["name"] == "silent_alarm_session"]
        assert cookie["secure"] is True
        assert cookie["httpOnly"] is True
    finally:
        context.close()
    answer = httpx.get(f"{tls_hub.url}/login", verify=tls_hub.verify(), timeout=10)
    assert answer.headers["strict-transport-security"] == "max-age=31536000"
