"""Login, logout, CSRF and who may open the console WebSocket — against the real hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from dispatch.web.console import i18n
from shared.protocol import CloseCode, hub_to_console
from tests.support.browser import log_in
from tests.support.hub import RunningHub, start_demo_hub
from tests.support.login import csrf_of, http_login

FAILED = "Anmeldung fehlgeschlagen"


@pytest.fixture(scope="module")
def demo_hub(tmp_path_factory: pytest.TempPathFactory, demo_template: Path) -> Iterator[RunningHub]:
    """One hub for the module (the conftest's settings): its tests log in and out, are
    refused and open sockets, and none raises an alarm or changes an operator. Its failed
    logins are four (three of them the guard's): fewer than the five in a row that lock
    the guard, in any order, and far under the 20 per address that answer 429."""
    hub = start_demo_hub(
        tmp_path_factory.mktemp("login") / "hub",
        env={
            "SILENT_ALARM_HEARTBEAT_INTERVAL": "1",
            "SILENT_ALARM_REDELIVER_INTERVAL": "0.5",
            "SILENT_ALARM_HANDSHAKE_TIMEOUT": "2",
        },
        template=demo_template,
    )
    yield hub
    hub.stop()


def test_console_without_session_redirects_to_login(demo_hub: RunningHub, page: Page) -> None:
    with httpx.Client(base_url=demo_hub.url, follow_redirects=False) as client:
        for path in ("/console", "/"):
            response = client.get(path)
            assert response.status_code == 303
            assert response.headers["location"] == "/login"
    page.goto(f"{demo_hub.url}/console")
    expect(page).to_have_url(f"{demo_hub.url}/login")
    expect(page.get_by_role("heading", name="Anmeldung")).to_be_visible()


def test_wrong_password_is_refused_with_401(demo_hub: RunningHub, page: Page) -> None:
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        log_in(page, demo_hub, password="falsch")
    assert answer.value.status == 401
    expect(page).to_have_url(f"{demo_hub.url}/login")
    expect(page.get_by_test_id("login-error")).to_contain_text(FAILED)
    # The name stays filled in; the password does not.
    expect(page.get_by_label("Benutzername")).to_have_value(demo_hub.login.username)
    expect(page.get_by_label("Passwort")).to_have_value("")


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(demo_hub: RunningHub) -> None:
    with httpx.Client(base_url=demo_hub.url) as client:
        bodies = []
        for username, password in (("wache", "falsch"), ("niemand", demo_hub.login.password)):
            csrf = csrf_of(client.get("/login").text)
            response = client.post(
                "/login", data={"username": username, "password": password, "csrf": csrf}
            )
            assert response.status_code == 401
            assert FAILED in response.text
            bodies.append(response.text.replace(username, "…"))
            assert "Passwort falsch" not in response.text
            assert "unbekannt" not in response.text
        assert bodies[0] == bodies[1]  # nothing tells which of the two was wrong
        assert client.get("/console", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("csrf", [None, "", "erfunden"])
def test_login_without_valid_csrf_is_forbidden(demo_hub: RunningHub, csrf: str | None) -> None:
    with httpx.Client(base_url=demo_hub.url, follow_redirects=False) as client:
        client.get("/login")  # the session with its real token exists, but is not sent back
        data = {"username": demo_hub.login.username, "password": demo_hub.login.password}
        if csrf is not None:
            data["csrf"] = csrf
        response = client.post("/login", data=data)
        assert response.status_code == 403
        assert "Sicherheitsprüfung fehlgeschlagen" in response.text
        # Still not logged in.
        assert client.get("/console").headers["location"] == "/login"


def test_login_without_any_session_is_forbidden(demo_hub: RunningHub) -> None:
    with httpx.Client(base_url=demo_hub.url) as fetcher:
        token = csrf_of(fetcher.get("/login").text)
    with httpx.Client(base_url=demo_hub.url) as stranger:  # a token from someone else's session
        response = stranger.post(
            "/login",
            data={
                "username": demo_hub.login.username,
                "password": demo_hub.login.password,
                "csrf": token,
            },
        )
    assert response.status_code == 403


def test_right_password_opens_the_console(demo_hub: RunningHub, logged_in_page: Page) -> None:
    page = logged_in_page
    expect(page.get_by_test_id("operator-name")).to_have_text("Wache Empfang")
    expect(page.get_by_test_id("connection")).to_contain_text("verbunden")
    expect(page.get_by_test_id("no-alarms")).to_have_text("Keine offenen Alarme.")
    expect(page.get_by_test_id("connection-banner")).to_be_hidden()
    expect(page).to_have_title("Stiller Alarm – Zentrale")


def test_login_gives_a_fresh_csrf_token(demo_hub: RunningHub) -> None:
    with httpx.Client(base_url=demo_hub.url, follow_redirects=True) as client:
        before = csrf_of(client.get("/login").text)
        response = client.post(
            "/login",
            data={
                "username": demo_hub.login.username,
                "password": demo_hub.login.password,
                "csrf": before,
            },
        )
        assert response.url.path == "/console"
        after = csrf_of(response.text)
        assert after != before
        # The old token no longer signs anything.
        assert client.post("/logout", data={"csrf": before}).status_code == 403


def test_logout(demo_hub: RunningHub, logged_in_page: Page) -> None:
    page = logged_in_page
    page.get_by_role("button", name="Abmelden").click()
    expect(page).to_have_url(f"{demo_hub.url}/login")
    page.goto(f"{demo_hub.url}/console")
    expect(page).to_have_url(f"{demo_hub.url}/login")


def test_logout_needs_the_csrf_token(demo_hub: RunningHub) -> None:
    with http_login(demo_hub) as client:
        for data in ({}, {"csrf": "erfunden"}):
            response = client.post("/logout", data=data)
            assert response.status_code == 403
            assert "Sicherheitsprüfung fehlgeschlagen" in response.text
        assert client.get("/console").status_code == 200  # still logged in
        csrf = csrf_of(client.get("/console").text)
        response = client.post("/logout", data={"csrf": csrf})
        assert response.status_code == 303
        assert response.headers["location"] == "/login"
        assert client.get("/console").headers["location"] == "/login"


def test_english_on_request_and_remembered(demo_hub: RunningHub, page: Page) -> None:
    page.goto(f"{demo_hub.url}/login")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Username").fill(demo_hub.login.username)
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("login-error")).to_contain_text("Sign-in failed")
    page.get_by_label("Password").fill(demo_hub.login.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{demo_hub.url}/console")
    expect(page.get_by_test_id("connection")).to_contain_text("connected")
    expect(page.get_by_role("heading", name="Open alarms")).to_be_visible()
    page.get_by_role("link", name="Deutsch").click()
    expect(page.get_by_role("heading", name="Offene Alarme")).to_be_visible()


def test_pages_are_not_cached_or_framed(demo_hub: RunningHub) -> None:
    with http_login(demo_hub) as client:
        for path in ("/login", "/console"):
            headers = client.get(path, follow_redirects=True).headers
            assert headers["cache-control"] == "no-store"
            assert "frame-ancestors 'none'" in headers["content-security-policy"]
            assert headers["x-frame-options"] == "DENY"


def test_static_files_stay_inside_their_folder(demo_hub: RunningHub) -> None:
    with httpx.Client(base_url=demo_hub.url) as client:
        assert client.get("/console/static/console.js").status_code == 200
        assert client.get("/console/static/vendor/alpine-csp.min.js").status_code == 200
        for path in (
            "/console/static/../routes.py",
            "/console/static/%2e%2e/routes.py",
            "/console/static/..%2froutes.py",
        ):
            assert client.get(path).status_code == 404, path


def test_catalogue_languages_have_the_same_keys() -> None:
    german = set(i18n.MESSAGES[i18n.DEFAULT_LANGUAGE])
    for lang in i18n.LANGUAGES:
        assert set(i18n.MESSAGES[lang]) == german, lang
    assert i18n.messages("fr") is i18n.MESSAGES["de"]


# --- the console WebSocket: origin and session -----------------------------------


@pytest.mark.parametrize("origin", ["http://evil.example", "null", None])
def test_console_socket_refuses_foreign_null_or_missing_origin(
    demo_hub: RunningHub, origin: str | None
) -> None:
    with http_login(demo_hub) as client:  # even with a valid session
        cookie = f"silent_alarm_session={client.cookies['silent_alarm_session']}"
    with (
        pytest.raises(InvalidStatus) as refused,
        connect(
            demo_hub.console_ws_url,
            origin=origin,  # type: ignore[arg-type]
            additional_headers={"Cookie": cookie},
            open_timeout=5,
            proxy=None,
        ),
    ):
        pass
    assert refused.value.response.status_code == 403


def test_console_socket_without_session_closes_4401(demo_hub: RunningHub) -> None:
    with (
        connect(
            demo_hub.console_ws_url, origin=Origin(demo_hub.url), open_timeout=5, proxy=None
        ) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CloseCode.UNAUTHORIZED
    assert closed.value.rcvd.reason == "login required"


def test_console_socket_with_session_gets_the_snapshot(demo_hub: RunningHub) -> None:
    with http_login(demo_hub) as client:
        cookie = f"silent_alarm_session={client.cookies['silent_alarm_session']}"
    with connect(
        demo_hub.console_ws_url,
        origin=Origin(demo_hub.url),
        additional_headers={"Cookie": cookie},
        open_timeout=5,
        proxy=None,
    ) as ws:
        snapshot = hub_to_console.validate_json(ws.recv(timeout=5))
    assert snapshot.type == "alarm_snapshot"
    assert snapshot.alarms == []
