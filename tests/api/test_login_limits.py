"""Brute-force limits on the console login: per operator (lock-out) and per client address."""

from __future__ import annotations

import httpx

from tests.support.hub import RunningHub, query
from tests.support.login import CSRF_FIELD, login_form
from tests.support.operators import API

FAILED = "Anmeldung fehlgeschlagen"


def attempt(hub: RunningHub, username: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=hub.url, follow_redirects=False, timeout=10) as client:
        return login_form(client, username, password)


def page(response: httpx.Response, username: str) -> str:
    """The page without what differs by design: the typed name and the session's CSRF token."""
    return CSRF_FIELD.sub("csrf", response.text.replace(username, "…"))


def counters(hub: RunningHub, username: str) -> tuple[object, ...]:
    return query(
        hub, "SELECT failed_logins, locked_until FROM operators WHERE username = ?", username
    )[0]


def test_five_failures_lock_the_account_and_the_answer_does_not_tell(
    demo_hub: RunningHub,
) -> None:
    login = demo_hub.login
    wrong = [attempt(demo_hub, login.username, f"falsch-{i}") for i in range(5)]
    assert [r.status_code for r in wrong] == [401] * 5
    assert counters(demo_hub, login.username)[1] is not None  # locked_until set

    locked = attempt(demo_hub, login.username, login.password)  # the right password
    assert locked.status_code == 401
    unknown = attempt(demo_hub, "niemand", login.password)
    assert FAILED in locked.text
    # Same page as for a wrong password or an unknown user: nothing reveals the lock.
    assert page(locked, login.username) == page(unknown, "niemand")
    assert page(locked, login.username) == page(wrong[0], login.username)
    assert "gesperrt" not in locked.text.lower()
    assert "locked" not in locked.text.lower()

    actions = [r[0] for r in query(demo_hub, "SELECT action FROM audit_events")]
    assert actions.count("login_failed") == 4
    assert actions.count("login_locked") == 1
    assert actions.count("login_refused_locked") == 1
    for i in range(5):
        assert f"falsch-{i}" not in str(query(demo_hub, "SELECT * FROM audit_events"))
    # The demo banner prints its login once by design; no log event ever carries it.
    events = [line for line in demo_hub.log().splitlines() if line.startswith("{")]
    assert not [line for line in events if login.password in line]


def test_success_resets_the_counter(demo_hub: RunningHub) -> None:
    login = demo_hub.login
    for i in range(4):
        assert attempt(demo_hub, login.username, f"falsch-{i}").status_code == 401
    assert counters(demo_hub, login.username)[0] == 4
    assert attempt(demo_hub, login.username, login.password).status_code == 303
    assert counters(demo_hub, login.username) == (0, None)
    for i in range(4):
        assert attempt(demo_hub, login.username, f"falsch-{i}").status_code == 401
    assert attempt(demo_hub, login.username, login.password).status_code == 303


def test_disabled_operator_cannot_log_in(admin_hub: RunningHub, admin: httpx.Client) -> None:
    guard_id = next(
        o["id"] for o in admin.get(f"{API}/operators").json() if o["username"] == "wache"
    )
    assert admin.patch(f"{API}/operators/{guard_id}", json={"disabled": True}).status_code == 200
    refused = attempt(admin_hub, "wache", admin_hub.login.password)
    assert refused.status_code == 401
    assert FAILED in refused.text
    assert admin.patch(f"{API}/operators/{guard_id}", json={"disabled": False}).status_code == 200
    assert attempt(admin_hub, "wache", admin_hub.login.password).status_code == 303


def test_an_admin_can_unlock(admin_hub: RunningHub, admin: httpx.Client) -> None:
    for i in range(5):
        attempt(admin_hub, "wache", f"falsch-{i}")
    assert attempt(admin_hub, "wache", admin_hub.login.password).status_code == 401
    guard = next(o for o in admin.get(f"{API}/operators").json() if o["username"] == "wache")
    assert guard["locked_until"] is not None
    assert admin.patch(f"{API}/operators/{guard['id']}", json={"unlock": True}).status_code == 200
    assert attempt(admin_hub, "wache", admin_hub.login.password).status_code == 303


def test_too_many_failures_from_one_address_answer_429(demo_hub: RunningHub) -> None:
    # Spread over many names so no single account lock is what stops it.
    for i in range(20):
        assert attempt(demo_hub, f"rate-{i}", "falsch").status_code == 401
    limited = attempt(demo_hub, demo_hub.login.username, demo_hub.login.password)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert "Zu viele fehlgeschlagene Anmeldungen" in limited.text
