"""The console's service worker in Debian's Chromium: a real push shown, "Quittieren" acknowledging.

The hub runs with a VAPID key and the local push service (tests/support/push_receiver.py).
The channel pushes a real alarm to a subscription of the guard (encrypted, VAPID-signed);
the receiver decrypts it, and DevTools' ``ServiceWorker.deliverPushMessage`` hands that
plaintext to the worker the console page registered, as Chromium does with a push from its
push service (headless Chromium has no push service of its own to subscribe at). The
notification is read back with ``registration.getNotifications()``.

DevTools cannot click a notification's action, so "Quittieren" is tested one step in: the
worker's own ``acknowledgeAlarm`` (what its ``notificationclick`` handler calls for that
action) runs inside the worker with the notification's data, against the real hub. The
click on the notification body opens ``/console?alarm=<id>``; that page is opened directly.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, CDPSession, Page, Worker, expect

from dispatch.channels.base import MessageKind, Sent
from shared.domain import AlarmLevel
from tests.console.conftest import row_of
from tests.support.alarmdriver import AlarmDriver
from tests.support.browser import log_in
from tests.support.hub import RunningHub, query
from tests.support.operators import api_client
from tests.support.push_receiver import PushReceiver
from tests.support.webpush_channel import PushSetup, alarm_message, push_setup, send

API = "/api/v1"
NOTIFICATIONS = """() => self.registration.getNotifications().then((found) => found.map((n) => ({
    title: n.title, body: n.body, tag: n.tag, requireInteraction: n.requireInteraction,
    actions: n.actions.map((a) => a.action + ":" + a.title), data: n.data,
})))"""


@pytest.fixture(scope="module")
def receiver() -> Iterator[PushReceiver]:
    found = PushReceiver()
    yield found
    found.close()


@pytest.fixture
def setup(tmp_path: Path, receiver: PushReceiver) -> PushSetup:
    return push_setup(tmp_path / "keys", receiver)


@pytest.fixture
def demo_hub_env(demo_hub_env: dict[str, str], setup: PushSetup) -> dict[str, str]:
    return {**demo_hub_env, **setup.env()}


def _worker(context: BrowserContext, hub: RunningHub) -> Worker:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for worker in context.service_workers:
            if worker.url == f"{hub.url}/sw.js":
                return worker
        if not context.service_workers:
            context.wait_for_event("serviceworker", timeout=10_000)
        else:
            time.sleep(0.05)
    raise AssertionError(f"no service worker from {hub.url}/sw.js")


def _devtools(page: Page, hub: RunningHub) -> tuple[CDPSession, str]:
    """A DevTools session of the page and the worker's registration id as it names it."""
    cdp = page.context.new_cdp_session(page)
    found: list[str] = []

    def updated(event: dict[str, Any]) -> None:
        for registration in event["registrations"]:
            if registration["scopeURL"] == f"{hub.url}/" and not registration["isDeleted"]:
                found.append(registration["registrationId"])

    cdp.on("ServiceWorker.workerRegistrationUpdated", updated)
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 10
    while not found and time.monotonic() < deadline:
        page.wait_for_timeout(50)  # lets Playwright's loop deliver the DevTools events
    assert found, "DevTools reported no registration for the console's scope"
    return cdp, found[-1]


def _notifications(
    worker: Worker, ready: Callable[[list[dict[str, Any]]], object]
) -> list[dict[str, Any]]:
    """The worker's notifications once ``ready`` holds for them (at most 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        shown: list[dict[str, Any]] = worker.evaluate(NOTIFICATIONS)
        if ready(shown) or time.monotonic() > deadline:
            return shown
        time.sleep(0.05)


def test_a_pushed_alarm_is_a_notification_and_quittieren_acknowledges_it(
    page: Page,
    browser_context: BrowserContext,
    demo_hub: RunningHub,
    setup: PushSetup,
    receiver: PushReceiver,
) -> None:
    browser_context.grant_permissions(["notifications"], origin=demo_hub.url)
    log_in(page, demo_hub)
    expect(page).to_have_url(f"{demo_hub.url}/console")
    # The page registered the worker and found this browser not yet subscribed.
    expect(page.get_by_test_id("push-control")).to_have_attribute("data-state", "off")
    expect(page.get_by_test_id("push-toggle")).to_have_text("Alarme aufs Telefon")
    scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
    assert scope == f"{demo_hub.url}/"
    worker = _worker(browser_context, demo_hub)

    # A real alarm, pushed to the guard by the channel, decrypted by the push service.
    driver = AlarmDriver(demo_hub)
    try:
        alarm_id = driver.raise_alarm("pc-1-01", AlarmLevel.THREAT)
        with api_client(demo_hub, demo_hub.login.username, demo_hub.login.password) as guard:
            browser = receiver.subscription()
            subscribed = guard.post(f"{API}/webpush/subscriptions", json=browser.as_json())
            assert subscribed.status_code == 201, subscribed.text
        before = len(receiver.received())
        outcome = send(setup, demo_hub, alarm_message(alarm_id), demo_hub.login.username)
        assert isinstance(outcome, Sent), outcome
        pushed = receiver.wait_for(before + 1)[before]
        assert pushed.problem == ""

        cdp, registration = _devtools(page, demo_hub)
        first = pushed.payload
        # The queue's retry of the same alarm (told apart here by its body): it replaces the
        # first notification (same tag), so the phone shows one.
        again = {**first, "body": first["body"] + " (erneut)"}
        for data in (first, again):
            cdp.send(
                "ServiceWorker.deliverPushMessage",
                {
                    "origin": demo_hub.url,
                    "registrationId": registration,
                    "data": json.dumps(data),
                },
            )
        shown = _notifications(
            worker, lambda found: found[-1:] and found[-1]["body"] == again["body"]
        )
        assert len(shown) == 1, shown
        note = shown[0]
        assert note["title"] == "Stufe 2 – Raum 1.01"
        assert note["body"].startswith("Stufe 2 – Raum 1.01")
        assert note["tag"] == f"alarm:{alarm_id}"
        assert note["requireInteraction"] is True
        assert note["actions"] == ["acknowledge:Quittieren"]
        assert query(demo_hub, "SELECT state FROM alarms WHERE id = ?", str(alarm_id)) == [
            ("active",)
        ]

        # "Quittieren": what the worker's notificationclick runs for that action.
        status = worker.evaluate("(data) => self.stillerAlarm.acknowledgeAlarm(data)", note["data"])
        assert status == 200
        assert query(
            demo_hub, "SELECT state, acknowledged_by FROM alarms WHERE id = ?", str(alarm_id)
        ) == [("acknowledged", "Wache Empfang")]
        after = _notifications(worker, lambda found: found)
        assert after[0]["body"] == "Quittiert – Sie haben den Alarm übernommen."
        assert after[0]["actions"] == []
        # The console in the page heard it from the hub like any acknowledgement.
        expect(row_of(page, alarm_id)).to_have_class(re.compile(r"\bstate-acknowledged\b"))

        # A forged token: the worker says it failed and the notification stays.
        forged = {**note["data"], "ack": {**note["data"]["ack"], "token": "gefaelscht"}}
        assert worker.evaluate("(data) => self.stillerAlarm.acknowledgeAlarm(data)", forged) == 403
        failed = _notifications(worker, lambda found: found)
        assert failed[0]["body"].startswith("Quittieren fehlgeschlagen")
        assert failed[0]["requireInteraction"] is True

        # The notification's body opens the console at the alarm.
        page.goto(f"{demo_hub.url}{note['data']['url']}")
        expect(page.get_by_test_id("alarm-detail")).to_have_attribute(
            "data-alarm-id", str(alarm_id)
        )

        # Logout (console-push.js ends the browser's own subscription first): the hub
        # forgets every browser of the guard, and the login page follows.
        expect(page.get_by_test_id("push-control")).to_have_attribute("data-state", "off")
        page.get_by_test_id("logout").click()
        expect(page).to_have_url(f"{demo_hub.url}/login")
        assert query(demo_hub, "SELECT count(*) FROM push_subscriptions") == [(0,)]
    finally:
        driver.close()


def test_the_all_clear_push_replaces_the_alarms_notification(
    page: Page,
    browser_context: BrowserContext,
    demo_hub: RunningHub,
    setup: PushSetup,
    receiver: PushReceiver,
) -> None:
    """The channel's all-clear push (kind "all_clear", no token) lands under the alarm's tag:
    the phone shows one notification, "Entwarnung …", without "Quittieren", and it does not
    insist on staying."""
    browser_context.grant_permissions(["notifications"], origin=demo_hub.url)
    log_in(page, demo_hub)
    expect(page).to_have_url(f"{demo_hub.url}/console")
    page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
    worker = _worker(browser_context, demo_hub)
    driver = AlarmDriver(demo_hub)
    try:
        alarm_id = driver.raise_alarm("pc-1-02", AlarmLevel.THREAT)
        with api_client(demo_hub, demo_hub.login.username, demo_hub.login.password) as guard:
            subscribed = guard.post(
                f"{API}/webpush/subscriptions", json=receiver.subscription().as_json()
            )
            assert subscribed.status_code == 201, subscribed.text
        alarm = alarm_message(alarm_id, room="1.02")
        over = replace(
            alarm,
            idempotency_key=f"{alarm_id}:all-clear",
            kind=MessageKind.ALL_CLEAR,
            subject="Entwarnung: Stiller Alarm Stufe 2 Bedrohung, Raum 1.02, ist beendet",
            body="Entwarnung: Der Stille Alarm in Raum 1.02 ist beendet.",
        )
        before = len(receiver.received())
        for message in (alarm, over):
            outcome = send(setup, demo_hub, message, demo_hub.login.username)
            assert isinstance(outcome, Sent), outcome
        pushed = receiver.wait_for(before + 2)[before:]
        assert [p.payload["kind"] for p in pushed] == ["alarm", "all_clear"]
        assert pushed[1].payload["ack"] is None  # nothing to acknowledge

        cdp, registration = _devtools(page, demo_hub)
        for push in pushed:
            cdp.send(
                "ServiceWorker.deliverPushMessage",
                {
                    "origin": demo_hub.url,
                    "registrationId": registration,
                    "data": json.dumps(push.payload),
                },
            )
        shown = _notifications(
            worker, lambda found: found[-1:] and found[-1]["title"].startswith("Entwarnung")
        )
        assert len(shown) == 1, shown  # the alarm's notification was replaced
        note = shown[0]
        assert note["tag"] == f"alarm:{alarm_id}"
        assert note["title"] == over.subject
        assert note["body"] == over.body
        assert note["actions"] == []
        assert note["requireInteraction"] is False
    finally:
        driver.close()
