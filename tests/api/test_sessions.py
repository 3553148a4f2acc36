"""Sessions the server ends: a stolen copy of the cookie dies with the session it copied.

The attack in each test: a second client holds a copy of an operator's session
cookie (as one stolen from a browser would be) and keeps using it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.hub import RunningHub, start_demo_hub
from tests.support.login import CSRF_FIELD, login_form
from tests.support.operators import API, api_client

SESSION_COOKIE = "silent_alarm_session"


def stolen_copy(client: httpx.Client, hub: RunningHub) -> httpx.Client:
    copy = httpx.Client(base_url=hub.url, follow_redirects=False, timeout=15)
    copy.cookies.set(SESSION_COOKIE, client.cookies[SESSION_COOKIE])
    return copy


def guard_id(admin: httpx.Client) -> int:
    operators = admin.get(f"{API}/operators").json()
    found: int = next(o["id"] for o in operators if o["username"] == "wache")
    return found


def log_out(client: httpx.Client) -> None:
    page = client.get("/console")
    match = CSRF_FIELD.search(page.text)
    token = match.group(1) if match else client.headers["X-CSRF-Token"]
    assert client.post("/logout", data={"csrf": token}).status_code == 303


def test_logout_ends_every_copy_of_the_session(demo_hub: RunningHub, guard: httpx.Client) -> None:
    with stolen_copy(guard, demo_hub) as thief:
        assert thief.get(f"{API}/session").status_code == 200
        log_out(guard)
        assert thief.get(f"{API}/session").status_code == 401
        assert thief.get("/console").headers["location"] == "/login"


@pytest.mark.parametrize(
    "change",
    [
        {"password": "ein-ganz-neues-passwort-99"},
        {"role": "emergency_manager"},
        {"site_ids": [1]},
        {"disabled": True},
    ],
    ids=["password reset", "role", "sites", "disabled"],
)
def test_a_change_of_credentials_or_rights_ends_the_session(
    admin_hub: RunningHub, admin: httpx.Client, change: dict[str, object]
) -> None:
    login = admin_hub.login
    with api_client(admin_hub, login.username, login.password) as guard:
        thief = stolen_copy(guard, admin_hub)
        assert thief.get(f"{API}/session").status_code == 200
        changed = admin.patch(f"{API}/operators/{guard_id(admin)}", json=change)
        assert changed.status_code == 200, changed.text
        assert guard.get(f"{API}/session").status_code == 401
        assert thief.get(f"{API}/session").status_code == 401
        thief.close()


def test_a_new_display_name_leaves_the_session_alone(
    admin_hub: RunningHub, admin: httpx.Client
) -> None:
    with api_client(admin_hub, admin_hub.login.username, admin_hub.login.password) as guard:
        changed = admin.patch(f"{API}/operators/{guard_id(admin)}", json={"display_name": "W."})
        assert changed.status_code == 200
        assert guard.get(f"{API}/session").status_code == 200


MAX_AGE = 4


@pytest.fixture
def short_sessions(
    tmp_path_factory: pytest.TempPathFactory, demo_template: Path
) -> Iterator[RunningHub]:
    hub = start_demo_hub(
        tmp_path_factory.mktemp("hub"),
        env={"SILENT_ALARM_SESSION_MAX_AGE": str(MAX_AGE)},
        template=demo_template,
    )
    yield hub
    hub.stop()


def test_use_never_extends_the_sessions_absolute_lifetime(short_sessions: RunningHub) -> None:
    hub = short_sessions
    with httpx.Client(base_url=hub.url, follow_redirects=False, timeout=15) as client:
        logged_in = time.monotonic()
        assert login_form(client, hub.login.username, hub.login.password).status_code == 303
        # Choosing the language changes the session, so every answer re-signs the cookie
        # with a fresh timestamp: a sliding lifetime would keep this alive forever.
        while (page := client.get("/console", params={"lang": "de"})).status_code == 200:
            assert "Set-Cookie" in page.headers
            assert time.monotonic() - logged_in < MAX_AGE + 10, "the session outlived its age"
            time.sleep(0.25)  # the pace of a busy operator's clicks
        assert page.headers["location"] == "/login"
        assert client.get(f"{API}/session").status_code == 401
        assert time.monotonic() - logged_in >= MAX_AGE - 1  # whole seconds in the cookie
