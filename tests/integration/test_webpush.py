"""Web Push (issue 20) against a real hub and a local RFC 8030 push service.

One hub for the module, started with a VAPID key made for it and the local
receiver (tests/support/push_receiver.py) allowed as its one test origin. Browsers
are the receiver's subscriptions (keys the test made, as a browser does) handed to
the hub through the REST API with a guard's session, as console-push.js does. The
channel runs in the test process on the hub's own store (tests/support/webpush_channel.py),
as the delivery queue runs it in the hub; the receiver checks the VAPID JWT and
decrypts every push. "Quittieren" is the service worker's POST with the token a push
carried. The module's last hub test has the hub's own delivery queue push an alarm.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from dispatch import demo
from dispatch.channels.ack_tokens import AckTokens
from dispatch.channels.base import Audience, Failed, Sent
from dispatch.channels.webpush import topic
from shared.domain import AlarmLevel
from shared.protocol import utc_now
from tests.api.conftest import audit_details
from tests.integration.test_channels import STORED_TIME
from tests.support.alarmdriver import AlarmDriver
from tests.support.commands import dispatch_cli
from tests.support.hub import RunningHub, query, start_demo_hub
from tests.support.lan_attacker import ATTACKER_ADDRESS
from tests.support.operators import ADMIN, API, MANAGER, add_operator, api_client
from tests.support.push_receiver import BrowserSubscription, PushReceiver
from tests.support.webpush_channel import PushSetup, alarm_message, push_setup, send

PASSWORD = "push-passwort-1234"


@dataclass
class World:
    hub: RunningHub
    receiver: PushReceiver
    setup: PushSetup
    driver: AlarmDriver

    def guard(self, username: str = "") -> contextlib.AbstractContextManager[httpx.Client]:
        if not username:
            return api_client(self.hub, self.hub.login.username, self.hub.login.password)
        return api_client(self.hub, username, PASSWORD)

    def subscribe(self, client: httpx.Client) -> BrowserSubscription:
        browser = self.receiver.subscription()
        response = client.post(f"{API}/webpush/subscriptions", json=browser.as_json())
        assert response.status_code == 201, response.text
        return browser

    def subscriptions(self, username: str) -> list[str]:
        rows = query(
            self.hub,
            "SELECT s.endpoint FROM push_subscriptions s JOIN operators o "
            "ON o.id = s.operator_id WHERE o.username = ? ORDER BY s.id",
            username,
        )
        return [str(endpoint) for (endpoint,) in rows]

    def state(self, alarm_id: uuid.UUID) -> str:
        ((state,),) = query(self.hub, "SELECT state FROM alarms WHERE id = ?", str(alarm_id))
        return str(state)


def push_events(world: World, action: str) -> int:
    ((count,),) = query(world.hub, "SELECT count(*) FROM audit_events WHERE action = ?", action)
    return int(str(count))


def acknowledgements(world: World, alarm_id: object) -> int:
    ((count,),) = query(
        world.hub,
        "SELECT count(*) FROM audit_events WHERE alarm_id = ? AND action = 'alarm_acknowledged'",
        str(alarm_id),
    )
    return int(str(count))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    receiver = PushReceiver()
    folder = tmp_path_factory.mktemp("webpush")
    setup = push_setup(folder / "keys", receiver)
    hub = start_demo_hub(folder / "hub", env=setup.env())
    driver: AlarmDriver | None = None
    try:
        add_operator(hub, *ADMIN, "admin")  # the CLI once; the rest through the API (faster)
        with api_client(hub, *ADMIN) as admin:
            for username, password, role in (
                (MANAGER[0], MANAGER[1], "emergency_manager"),
                *((name, PASSWORD, "guard") for name in ("zweite", "dritte", "vierte", "fuenfte")),
            ):
                made = admin.post(
                    f"{API}/operators",
                    json={
                        "username": username,
                        "display_name": username.title(),
                        "role": role,
                        "password": password,
                        "site_ids": [],
                    },
                )
                assert made.status_code == 201, made.text
        driver = AlarmDriver(hub)
        yield World(hub, receiver, setup, driver)
    finally:
        if driver is not None:
            driver.close()
        hub.stop()
        receiver.close()


def test_the_console_reads_the_hubs_public_key(world: World) -> None:
    with world.guard() as guard:
        response = guard.get(f"{API}/webpush/key")
    assert response.status_code == 200, response.text
    assert response.json()["public_key"] == world.setup.public_key
    anonymous = httpx.get(f"{world.hub.url}{API}/webpush/key", timeout=10)
    assert anonymous.status_code == 401


def test_an_alarm_reaches_the_browser_decryptable_with_its_fields_and_acknowledges(
    world: World,
) -> None:
    alarm_id = world.driver.raise_alarm("pc-1-01", AlarmLevel.THREAT)
    username = world.hub.login.username
    with world.guard() as guard:
        browser = world.subscribe(guard)
    before = len(world.receiver.received())

    outcome = send(world.setup, world.hub, alarm_message(alarm_id), username)

    assert isinstance(outcome, Sent), outcome
    assert outcome.reference.startswith(f"{world.receiver.origin}/message/")
    got = world.receiver.wait_for(before + 1)[before]
    assert got.problem == "", got.problem  # VAPID JWT valid for its origin, body decrypted
    assert got.path == browser.endpoint.removeprefix(world.receiver.origin)
    assert got.vapid_key == world.setup.public_key
    assert got.claims["aud"] == world.receiver.origin
    assert got.claims["sub"] == "mailto:sicherheit@example.org"
    assert got.headers["ttl"] == "600"
    assert got.headers["urgency"] == "high"
    assert got.headers["topic"] == topic(f"{alarm_id}:webpush")
    payload = got.payload
    assert payload["alarm_id"] == str(alarm_id)
    assert payload["level"] == 2
    assert payload["room"] == "1.01"
    assert payload["title"] == "Stufe 2 – Raum 1.01"
    assert payload["body"].startswith("Stufe 2 – Raum 1.01")
    assert payload["url"] == f"/console?alarm={alarm_id}"
    assert payload["test"] is False
    ack = payload["ack"]
    assert ack["url"] == f"/api/v1/webpush/alarms/{alarm_id}/acknowledge"

    # The same message again (the queue's retry): the same Topic, so a push service
    # replaces the one still waiting instead of showing two.
    assert isinstance(send(world.setup, world.hub, alarm_message(alarm_id), username), Sent)
    retry = world.receiver.wait_for(before + 2)[before + 1]
    assert retry.headers["topic"] == got.headers["topic"]

    # "Quittieren": the service worker's POST with the token, no cookie.
    answer = httpx.post(f"{world.hub.url}{ack['url']}", json={"token": ack["token"]}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "acknowledged"
    assert answer.json()["acknowledged_by"] == "Wache Empfang"
    assert world.state(alarm_id) == "acknowledged"
    ((actor, detail),) = query(
        world.hub,
        "SELECT actor, detail FROM audit_events WHERE alarm_id = ? AND action = ?",
        str(alarm_id),
        "alarm_acknowledged",
    )
    assert actor == "operator:Wache Empfang"
    assert json.loads(str(detail)) == {"via": "push"}
    again = httpx.post(f"{world.hub.url}{ack['url']}", json={"token": ack["token"]}, timeout=10)
    assert again.status_code == 200  # a second tap changes nothing
    assert acknowledgements(world, alarm_id) == 1


def test_level_three_staff_are_pushed_no_room(world: World) -> None:
    alarm_id = world.driver.raise_alarm("pc-1-01", AlarmLevel.DANGER)
    before = len(world.receiver.received())
    message = alarm_message(alarm_id, audience=Audience.STAFF, room=None, level=3)
    assert isinstance(send(world.setup, world.hub, message, world.hub.login.username), Sent)
    got = world.receiver.wait_for(before + 1)[before]
    assert got.payload["room"] is None
    assert got.payload["audience"] == "staff"
    assert b"1.01" not in got.plaintext  # neither in the title, the body nor anywhere else


def test_a_gone_subscription_is_removed_and_the_other_still_gets_the_alarm(
    world: World,
) -> None:
    alarm_id = world.driver.raise_alarm("pc-1-02", AlarmLevel.THREAT)
    with world.guard("zweite") as guard:
        gone = world.subscribe(guard)
        kept = world.subscribe(guard)
    world.receiver.answer(gone, 410)
    removed_before = push_events(world, "push_subscription_removed")

    outcome = send(world.setup, world.hub, alarm_message(alarm_id), "zweite")

    assert isinstance(outcome, Sent), outcome
    assert world.subscriptions("zweite") == [kept.endpoint]
    assert push_events(world, "push_subscription_removed") == removed_before + 1
    ((detail,),) = query(
        world.hub,
        "SELECT detail FROM audit_events WHERE action = 'push_subscription_removed' "
        "ORDER BY id DESC LIMIT 1",
    )
    assert json.loads(str(detail))["host"] == "127.0.0.1"
    assert "/push/" not in str(detail)  # the endpoint's path is the browser's capability

    world.receiver.answer(kept, 410)
    last = send(world.setup, world.hub, alarm_message(alarm_id), "zweite")
    assert isinstance(last, Failed), last
    assert not last.retryable
    assert world.subscriptions("zweite") == []
    nobody = send(world.setup, world.hub, alarm_message(alarm_id), "zweite")
    assert nobody == Failed("zweite has no browser subscribed to pushes", retryable=False)


def test_a_push_service_error_is_retryable_and_keeps_the_subscription(world: World) -> None:
    alarm_id = world.driver.raise_alarm("pc-1-03", AlarmLevel.THREAT)
    with world.guard("dritte") as guard:
        browser = world.subscribe(guard)
    world.receiver.answer(browser, 503)
    outcome = send(world.setup, world.hub, alarm_message(alarm_id), "dritte")
    assert isinstance(outcome, Failed), outcome
    assert outcome.retryable
    assert world.subscriptions("dritte") == [browser.endpoint]
    world.receiver.answer(browser, 201)


def test_an_operator_who_may_not_see_the_alarm_is_not_pushed_it(world: World) -> None:
    """An emergency manager sees level 2–3 (and escalated level 1) only, as on the console."""
    alarm_id = world.driver.raise_alarm("pc-1-04", AlarmLevel.SUPPORT)
    with api_client(world.hub, *MANAGER) as manager:
        world.subscribe(manager)
    before = len(world.receiver.received())
    outcome = send(world.setup, world.hub, alarm_message(alarm_id, level=1), MANAGER[0])
    assert isinstance(outcome, Failed), outcome
    assert not outcome.retryable
    assert "does not cover this alarm" in outcome.reason
    assert len(world.receiver.received()) == before


# --- SSRF: a browser's endpoint must not make the hub post into the LAN --------------


class Listener:
    """A stand-in for an internal service: counts every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _accept(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture(scope="module")
def internal() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


def _refused_endpoints(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/push/x",  # plain http to another loopback port
        f"https://127.0.0.1:{port}/push/x",
        "https://10.1.2.3/push/x",  # the office LAN
        "https://169.254.169.254/latest/meta-data",  # a cloud's metadata service
        "https://localhost/push/x",
        "http://fcm.googleapis.com/fcm/send/x",  # a push service, but not https
        "https://fcm.googleapis.com:8443/fcm/send/x",
        "https://fcm.googleapis.com.attacker.example/x",
        f"https://fcm.googleapis.com@127.0.0.1:{port}/x",
        f"https://fcm.googleapis.com\\@127.0.0.1:{port}/x",
        "https://notify.windows.com/x",  # ".notify.windows.com" allows subdomains only
        "file:///etc/passwd",
        "fcm.googleapis.com/fcm/send/x",
    ]


def test_endpoints_outside_the_push_services_are_refused(world: World, internal: Listener) -> None:
    browser = world.receiver.subscription()
    with world.guard("vierte") as guard:
        before = query(world.hub, "SELECT * FROM push_subscriptions")
        audit_before = push_events(world, "push_subscribed")
        for endpoint in _refused_endpoints(internal.port):
            body = {**browser.as_json(), "endpoint": endpoint}
            response = guard.post(f"{API}/webpush/subscriptions", json=body)
            assert response.status_code == 422, f"{endpoint}: {response.text}"
            assert "endpoint" in response.json()["detail"]
        assert query(world.hub, "SELECT * FROM push_subscriptions") == before
        assert push_events(world, "push_subscribed") == audit_before
        # A real push service's endpoint is taken (nothing is posted to it here).
        good = {**browser.as_json(), "endpoint": "https://fcm.googleapis.com/fcm/send/abc"}
        assert guard.post(f"{API}/webpush/subscriptions", json=good).status_code == 201
        assert (
            guard.post(
                f"{API}/webpush/unsubscribe", json={"endpoint": good["endpoint"]}
            ).status_code
            == 204
        )
    assert internal.connections == 0


def test_an_internal_endpoint_written_past_the_api_is_never_posted_to(
    world: World, internal: Listener
) -> None:
    """A row put into the table by SQL (or left from laxer settings) is checked again at
    send time: the hub connects to nothing."""
    alarm_id = world.driver.raise_alarm("pc-1-05", AlarmLevel.THREAT)
    browser = world.receiver.subscription()
    ((operator_id,),) = query(world.hub, "SELECT id FROM operators WHERE username = 'vierte'")
    ((epoch,),) = query(world.hub, "SELECT session_epoch FROM operators WHERE id = ?", operator_id)
    database = Path(world.hub.data_dir) / "dispatch.sqlite3"
    with contextlib.closing(sqlite3.connect(database, timeout=5)) as db, db:
        db.execute(
            "INSERT INTO push_subscriptions (operator_id, endpoint, p256dh, auth, "
            "session_epoch, created_at) VALUES (?, ?, ?, ?, ?, '2026-12-06 12:00:00+00:00')",
            (
                operator_id,
                f"http://127.0.0.1:{internal.port}/push/x",
                browser.p256dh,
                browser.as_json()["keys"]["auth"],
                epoch,
            ),
        )
    outcome = send(world.setup, world.hub, alarm_message(alarm_id), "vierte")
    assert isinstance(outcome, Failed), outcome
    assert not outcome.retryable
    assert "push endpoint refused" in outcome.reason
    assert internal.connections == 0


def test_another_operators_subscription_cannot_be_removed(world: World) -> None:
    with world.guard("dritte") as owner:
        browser = world.subscribe(owner)
    with world.guard("vierte") as other:
        response = other.post(f"{API}/webpush/unsubscribe", json={"endpoint": browser.endpoint})
    assert response.status_code == 404, response.text
    assert browser.endpoint in world.subscriptions("dritte")


def test_bad_keys_are_refused(world: World) -> None:
    browser = world.receiver.subscription()
    with world.guard("vierte") as guard:
        for keys in (
            {"p256dh": "AAAA", "auth": browser.as_json()["keys"]["auth"]},
            {"p256dh": browser.p256dh, "auth": "AAAA"},
            {"p256dh": "%%%", "auth": "%%%"},
        ):
            body = {"endpoint": browser.endpoint, "keys": keys}
            response = guard.post(f"{API}/webpush/subscriptions", json=body)
            assert response.status_code == 422, response.text
    assert browser.endpoint not in world.subscriptions("vierte")


# --- the test push and the end of a session ------------------------------------------------


def test_the_test_push_goes_through_the_hub_to_every_browser_of_the_operator(
    world: World,
) -> None:
    with world.guard("vierte") as guard:
        world.subscribe(guard)
        before = len(world.receiver.received())
        response = guard.post(f"{API}/webpush/test", json={"lang": "de"})
        assert response.status_code == 200, response.text
    got = world.receiver.wait_for(before + 1)[before]
    assert got.problem == ""
    assert got.payload["test"] is True
    assert got.payload["ack"] is None  # nothing to acknowledge
    assert got.payload["title"] == "Stiller Alarm – Test"


def test_logout_ends_the_pushes_of_every_browser(world: World) -> None:
    with world.guard("dritte") as guard:
        world.subscribe(guard)
        assert world.subscriptions("dritte")
        csrf = guard.get(f"{API}/session").json()["csrf_token"]
        logout = guard.post("/logout", data={"csrf": csrf})
        assert logout.status_code == 303
    assert world.subscriptions("dritte") == []


def test_a_password_reset_ends_the_pushes(world: World) -> None:
    """Subscriptions are as old as the session they were made in: an admin's reset (a lost
    phone) ends them without anyone deleting them."""
    alarm_id = world.driver.raise_alarm("pc-1-02", AlarmLevel.THREAT)
    with world.guard("fuenfte") as guard:
        world.subscribe(guard)
    with api_client(world.hub, *ADMIN) as admin:
        operators = admin.get(f"{API}/operators").json()
        fifth = next(o for o in operators if o["username"] == "fuenfte")
        reset = admin.patch(f"{API}/operators/{fifth['id']}", json={"password": PASSWORD + "x"})
        assert reset.status_code == 200, reset.text
    outcome = send(world.setup, world.hub, alarm_message(alarm_id), "fuenfte")
    assert outcome == Failed("fuenfte has no browser subscribed to pushes", retryable=False)


def test_the_manifest_and_the_worker_are_served_for_an_installable_app(world: World) -> None:
    demo_hub = world.hub
    manifest = httpx.get(f"{demo_hub.url}/manifest.webmanifest", timeout=10)
    assert manifest.status_code == 200
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    data = manifest.json()
    assert data["name"] == "Stiller Alarm – Wache"
    assert data["display"] == "standalone"
    for icon in data["icons"]:
        image = httpx.get(f"{demo_hub.url}{icon['src']}", timeout=10)
        assert image.status_code == 200
        assert image.headers["content-type"] == "image/png"
    worker = httpx.get(f"{demo_hub.url}/sw.js", timeout=10)
    assert worker.status_code == 200
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["cache-control"] == "no-cache"
    login = httpx.get(f"{demo_hub.url}/login", timeout=10)
    assert '<link rel="manifest" href="/manifest.webmanifest">' in login.text


# --- "Quittieren" refused: forged, expired, another alarm, an ended session --------------


def _tokens(world: World, clock: float | None = None) -> AckTokens:
    secret = demo.session_secret(world.hub.data_dir)
    if clock is None:
        return AckTokens(secret, 3600)
    return AckTokens(secret, 3600, clock=lambda: clock)


def _operator(world: World, username: str) -> tuple[int, int]:
    ((operator_id, epoch),) = query(
        world.hub, "SELECT id, session_epoch FROM operators WHERE username = ?", username
    )
    return int(str(operator_id)), int(str(epoch))


def _acknowledge(
    world: World, alarm_id: object, token: str, client: httpx.Client | None = None
) -> httpx.Response:
    url = f"{world.hub.url}{API}/webpush/alarms/{alarm_id}/acknowledge"
    if client is not None:
        return client.post(url, json={"token": token})
    return httpx.post(url, json={"token": token}, timeout=10)


def test_forged_expired_other_alarm_and_ended_tokens_acknowledge_nothing(world: World) -> None:
    alarm_id = world.driver.raise_alarm("pc-1-03", AlarmLevel.THREAT)
    other_alarm = world.driver.raise_alarm("pc-1-04", AlarmLevel.THREAT)
    guard_id, epoch = _operator(world, world.hub.login.username)
    genuine = _tokens(world).issue(alarm_id, guard_id, epoch)
    refused: dict[str, tuple[object, str]] = {
        "forged": (alarm_id, "not-a-token"),
        "another key": (
            alarm_id,
            AckTokens("x" * 48, 3600).issue(alarm_id, guard_id, epoch),
        ),
        "changed": (alarm_id, ("X" if genuine[0] != "X" else "Y") + genuine[1:]),
        "expired": (
            alarm_id,
            _tokens(world, clock=time.time() - 7200).issue(alarm_id, guard_id, epoch),
        ),
        "for another alarm": (other_alarm, genuine),
        "an older session": (alarm_id, _tokens(world).issue(alarm_id, guard_id, epoch - 1)),
        "an unknown operator": (alarm_id, _tokens(world).issue(alarm_id, 999_999, 0)),
    }
    for why, (target, token) in refused.items():
        response = _acknowledge(world, target, token)
        assert response.status_code == 403, f"{why}: {response.text}"
        assert token not in response.text
    assert world.state(alarm_id) == "active"
    assert world.state(other_alarm) == "active"
    # The hub's own timers audit escalations meanwhile; nobody acknowledged anything.
    assert acknowledgements(world, alarm_id) == acknowledgements(world, other_alarm) == 0
    log = world.hub.log()
    assert all(token not in log for _, token in refused.values())
    assert "webpush_acknowledge_refused" in log

    # The genuine token still works afterwards, for its own alarm only.
    assert _acknowledge(world, alarm_id, genuine).status_code == 200
    assert world.state(alarm_id) == "acknowledged"
    assert world.state(other_alarm) == "active"


def test_a_token_of_an_operator_who_may_not_see_the_alarm_is_refused(world: World) -> None:
    """The console's rule holds for the push path too: an emergency manager does not see a
    level-1 alarm nobody escalated, so their token acknowledges nothing (404)."""
    alarm_id = world.driver.raise_alarm("pc-1-05", AlarmLevel.SUPPORT)
    manager_id, epoch = _operator(world, MANAGER[0])
    token = _tokens(world).issue(alarm_id, manager_id, epoch)
    response = _acknowledge(world, alarm_id, token)
    assert response.status_code == 404, response.text
    assert world.state(alarm_id) == "active"


def test_refused_tokens_from_one_address_are_limited(world: World) -> None:
    """A LAN attacker guessing tokens (from 127.0.0.2) is answered 429 after 20 refusals;
    the guards' own address (127.0.0.1) is not."""
    alarm_id = world.driver.raise_alarm("pc-1-01", AlarmLevel.THREAT)
    transport = httpx.HTTPTransport(local_address=ATTACKER_ADDRESS)
    statuses = []
    with httpx.Client(transport=transport, timeout=10) as attacker:
        for _ in range(22):
            statuses.append(_acknowledge(world, alarm_id, "geraten", attacker).status_code)
        last = _acknowledge(world, alarm_id, "geraten", attacker)
    assert statuses[:20] == [403] * 20
    assert statuses[20:] == [429, 429]
    assert int(last.headers["Retry-After"]) > 0
    guard_id, epoch = _operator(world, world.hub.login.username)
    genuine = _tokens(world).issue(alarm_id, guard_id, epoch)
    assert _acknowledge(world, alarm_id, genuine).status_code == 200


# --- secrets ----------------------------------------------------------------------------


def test_no_key_token_or_endpoint_reaches_a_log_or_the_audit_trail(world: World) -> None:
    alarm_id = world.driver.raise_alarm("pc-1-02", AlarmLevel.THREAT)
    with world.guard("vierte") as guard:
        browser = world.subscribe(guard)
        with capture_logs() as logged:
            outcome = send(world.setup, world.hub, alarm_message(alarm_id), "vierte")
        assert guard.post(f"{API}/webpush/test", json={}).status_code == 200
    assert isinstance(outcome, Sent)
    pushed = [
        r.payload
        for r in world.receiver.received()
        if r.plaintext and r.payload["alarm_id"] == str(alarm_id)
    ]
    token = pushed[0]["ack"]["token"]
    pem = world.setup.key_file.read_text()
    secrets_seen: dict[str, str] = {
        "private key": "".join(pem.splitlines()[1:-1])[:40],
        "token": token,
        "endpoint path": browser.endpoint.removeprefix(world.receiver.origin),
        "p256dh": browser.p256dh,
        "auth": browser.as_json()["keys"]["auth"],
    }
    where: dict[str, Any] = {
        "hub log": world.hub.log(),
        "audit trail": audit_details(world.hub),
        "channel log": repr(logged),
    }
    leaks = [
        f"{what} in {place}"
        for what, s in secrets_seen.items()
        for place, text in where.items()
        if s in text
    ]
    assert not leaks, leaks
    assert any(event["event"] == "webpush_sent" for event in logged)


def test_the_hubs_delivery_queue_pushes_an_alarm_to_the_recipients_phone(world: World) -> None:
    """End to end without the test's channel: a guard's phone is a recipient of level 2 in
    the policy (as the admin page stores it); an alarm raised by a real agent connection
    is pushed by the hub's own delivery queue, decryptable, with its room, and the row
    ends `sent`. Resolved, the alarm is followed by its all-clear on the same phone: kind
    `all_clear`, no "Quittieren", the alarm's id (so the service worker replaces the alarm's
    notification) and a Topic of its own (so the push service does not take it for a
    re-send of the alarm). It runs last in its module: the pushes it causes arrive on
    their own."""
    username = world.hub.login.username
    with world.guard() as guard:
        browser = world.subscribe(guard)
    with sqlite3.connect(world.hub.data_dir / "dispatch.sqlite3") as db:
        db.execute(
            "INSERT INTO channel_recipients (site_id, level, after_s, channel, address, label,"
            " audience, language, created_at) VALUES (1, 2, 0, 'webpush', ?, 'Wache', "
            "'security', 'de', ?)",
            (username, utc_now().strftime(STORED_TIME)),
        )
    alarm_id = world.driver.raise_alarm("pc-1-01", AlarmLevel.THREAT)
    stored = time.monotonic()
    # This guard subscribed other browsers in earlier tests: each is pushed, in no set order.
    pushed = world.receiver.wait_for_path(browser.endpoint.removeprefix(world.receiver.origin))
    assert time.monotonic() - stored <= 5.0
    assert pushed.problem == "", pushed.problem
    assert pushed.payload["alarm_id"] == str(alarm_id)
    assert pushed.payload["room"] == "1.01"
    deadline = time.monotonic() + 10
    while query(
        world.hub, "SELECT state FROM channel_deliveries WHERE alarm_id = ?", str(alarm_id)
    ) != [("sent",)]:
        assert time.monotonic() < deadline, "the delivery row never became sent"
        time.sleep(0.05)
    assert pushed.payload["kind"] == "alarm"

    world.driver.resolve(alarm_id)
    resolved = time.monotonic()
    path = browser.endpoint.removeprefix(world.receiver.origin)
    all_clear = world.receiver.wait_for_path(path, nth=1)
    assert time.monotonic() - resolved <= 5.0
    assert all_clear.problem == "", all_clear.problem
    assert all_clear.payload["kind"] == "all_clear"
    assert all_clear.payload["alarm_id"] == str(alarm_id)
    assert all_clear.payload["ack"] is None
    assert all_clear.payload["title"].startswith("Entwarnung")
    assert all_clear.headers["topic"] != pushed.headers["topic"]


# --- the key pair and the settings --------------------------------------------------------


def test_keys_are_made_once_into_a_private_file(
    tmp_path: Path,
) -> None:
    env = {"SILENT_ALARM_DATA_DIR": str(tmp_path)}
    made = dispatch_cli("webpush", "keys", env=env)
    assert made.returncode == 0, made.stderr
    key_file = tmp_path / "vapid-private.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    public = made.stdout.splitlines()[1]
    assert len(public) == 87  # base64url of a 65-byte P-256 point
    pem_body = "".join(key_file.read_text().splitlines()[1:-1])
    assert pem_body[:40] not in made.stdout + made.stderr

    content = key_file.read_bytes()
    again = dispatch_cli("webpush", "keys", env=env)
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1
    assert "exists already" in again.stderr
    assert key_file.read_bytes() == content
