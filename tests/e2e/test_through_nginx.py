"""Through Debian's nginx with a private CA: the real agents over wss://, the console over
https:// in Chromium, with the reverse-proxy recipe of docs/configuration.md as it stands.

The hub speaks plain HTTP on loopback with the documented dispatch.env (nginx on
127.0.0.1 trusted, Secure cookies); nginx terminates TLS with a certificate from a
CA made for the test, standing in for the office's CA. The agents trust it through
OpenSSL's store (SSL_CERT_FILE, read by truststore), Chromium through the NSS
database in its HOME, as managed office PCs trust the office's CA: no certificate
error is ignored anywhere. The PCs' configs name only the proxy's address.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect
from playwright.sync_api import Error as PlaywrightError

from dispatch import demo
from tests.support.agentproc import RunningAgent, start_agent
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, log_in
from tests.support.hub import RunningHub, query, start_demo_hub
from tests.support.login import SESSION_COOKIE
from tests.support.nginx import RunningNginx, start_nginx, through
from tests.support.nss import home_trusting
from tests.support.operators import API
from tests.support.proxy_recipe import documented_hub_env
from tests.support.tls import TlsFiles, make_tls
from tests.support.waiting import wait_until
from tests.support.xserver import XServer, wait_for_window

pytestmark = pytest.mark.e2e

HSTS = "max-age=31536000"
OFFICE_PC = "127.0.0.2"  # another address than nginx's (Linux routes all of 127/8 to lo)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    env = {**documented_hub_env(), "SILENT_ALARM_HEARTBEAT_INTERVAL": "1"}
    hub = start_demo_hub(tmp_path_factory.mktemp("hub"), env=env)
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory, hub: RunningHub, tls: TlsFiles
) -> Iterator[RunningNginx]:
    nginx = start_nginx(tmp_path_factory.mktemp("nginx"), hub, tls)
    yield nginx
    nginx.stop()


@pytest.fixture(scope="module")
def front(hub: RunningHub, proxy: RunningNginx) -> RunningHub:
    """The hub as the PCs and browsers reach it: through the proxy."""
    front = through(hub, proxy)
    demo.point_agents_at(hub.data_dir, front.agent_ws_url)  # as an admin's rollout would
    return front


@pytest.fixture(scope="module")
def chromium(
    playwright_driver: Playwright, tls: TlsFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Browser]:
    """browser.py's Chromium, trusting the private CA through NSS (so ``page`` and
    ``page_errors`` watch this one)."""
    home = home_trusting(tls.ca, tmp_path_factory.mktemp("home"))
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        env={**os.environ, "HOME": str(home)},
    )
    yield browser
    browser.close()


def test_the_real_agent_over_wss_reaches_a_neighbour_and_the_console_over_https(
    front: RunningHub,
    hub: RunningHub,
    tls: TlsFiles,
    xservers: Callable[..., XServer],
    agents: list[RunningAgent],
    browser_context: BrowserContext,
    page: Page,
) -> None:
    assert hub.tls is None  # TLS is nginx's alone
    assert front.port != hub.port
    assert front.agent_config("pc-1-01")["hub_urls"] == [front.agent_ws_url]
    assert front.agent_ws_url.startswith("wss://")

    with page.expect_response(f"{front.url}/console") as console_page:
        log_in(page, front)
    answer = console_page.value
    assert answer.status == 200
    assert answer.headers["strict-transport-security"] == HSTS
    # The console's live WebSocket, through nginx's upgrade and the hub's origin check.
    expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "open")
    (cookie,) = [c for c in browser_context.cookies() if c["name"] == SESSION_COOKIE]
    assert cookie["secure"] is True
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"

    raiser_x, neighbour_x = xservers(), xservers()
    trust = {"SSL_CERT_FILE": str(tls.ca)}
    raiser = start_agent(front.agent_config_path("pc-1-01"), raiser_x, env=trust)  # room 1.01
    neighbour = start_agent(front.agent_config_path("pc-1-02"), neighbour_x, env=trust)  # 1.02
    agents += [raiser, neighbour]
    for agent in agents:
        agent.wait_for_log("connected to hub", 30)
        agent.wait_for_log("hotkey listening", 30)

    raiser_x.xdotool("key", "ctrl+alt+p")
    row = page.get_by_test_id("alarm-row")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("room")).to_contain_text("1.01")
    alarm_id = row.get_attribute("data-alarm-id")
    assert alarm_id
    # The console may show the alarm while its commit runs (popups go out first): the
    # store is read once the raiser was told "stored", which comes after the commit.
    raiser.wait_for_log(f"stored {alarm_id}")
    assert query(hub, "SELECT kind FROM alarms WHERE id = ?", alarm_id) == [("alarm",)]
    neighbour.wait_for_log(f"popup shown {alarm_id}")
    wait_for_window(neighbour_x.display, "^Stiller Alarm – Raum 1.01$")


def test_a_browser_without_the_offices_ca_gets_no_console(
    playwright_driver: Playwright, front: RunningHub
) -> None:
    """The trust above comes from the CA in Chromium's NSS database and nothing else."""
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    try:
        with pytest.raises(PlaywrightError, match="ERR_CERT_AUTHORITY_INVALID"):
            browser.new_page().goto(f"{front.url}/login")
    finally:
        browser.close()


def refusals_logged(hub: RunningHub) -> list[str]:
    """The client address of every refused enrolment, oldest first, from the hub's log: the
    address its limit on code guessing counts (dispatch/web/api/enrolment.py)."""
    # A last line without its newline is still being written.
    written = [line for line in hub.log().splitlines(keepends=True) if line.endswith("\n")]
    events = (json.loads(line) for line in written if "enrol_refused" in line)
    return [str(event["client"]) for event in events if event.get("event") == "enrol_refused"]


def counted_as(address: str, target: RunningHub, hub: RunningHub, forged_for: str) -> str:
    """Guesses an enrolment code at ``target`` from ``address`` with a forged
    X-Forwarded-For; returns the address the hub counted the guess under."""
    before = len(refusals_logged(hub))
    transport = httpx.HTTPTransport(local_address=address, verify=target.verify())
    with httpx.Client(transport=transport, timeout=10) as client:
        answer = client.post(
            f"{target.url}{API}/enrol",
            json={"code": "RATE-MAL-0000", "hostname": "PC-Neu-01", "agent_version": "1.2.3"},
            headers={"X-Forwarded-For": forged_for},
        )
    assert answer.status_code == 403, answer.text
    return wait_until(lambda: refusals_logged(hub)[before:], 5, what="the refusal logged")[0]


def test_forwarded_for_is_believed_from_nginx_only(front: RunningHub, hub: RunningHub) -> None:
    """Through nginx a PC is counted under its own address, whatever it claims, not under
    the proxy's; straight to the hub, a PC that is not the proxy is not believed.
    (Without any trusted proxy: tests/api/test_enrolment.py.)"""
    assert counted_as(OFFICE_PC, front, hub, forged_for="198.51.100.7") == OFFICE_PC
    assert counted_as(OFFICE_PC, hub, hub, forged_for="198.51.100.8") == OFFICE_PC
