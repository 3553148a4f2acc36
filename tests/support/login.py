"""The console's login form as a browser fills it: the page's CSRF field, then the credentials."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.support.hub import RunningHub

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
SESSION_COOKIE = "silent_alarm_session"


def csrf_of(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def login_form(client: httpx.Client, username: str, password: str) -> httpx.Response:
    """Fetches /login and posts the form with its CSRF token; 303 when the login worked."""
    csrf = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password, "csrf": csrf})


@contextmanager
def http_login(
    hub: RunningHub, username: str | None = None, password: str | None = None
) -> Iterator[httpx.Client]:
    """An httpx client holding an operator's session (the demo guard's by default)."""
    with httpx.Client(base_url=hub.url, follow_redirects=False, timeout=10) as client:
        response = login_form(
            client, username or hub.login.username, password or hub.login.password
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/console"
        yield client
