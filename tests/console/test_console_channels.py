"""Issue 20 in Chromium: the admin adds an e-mail recipient on the policy page and sends a test
message; the guard's alarm card then shows each channel's deliveries next to "zugestellt an",
and once the guard gave the all-clear, the resolved row shows how the all-clears went.

One real hub with a real SMTP server (aiosmtpd, STARTTLS and AUTH), a webhook endpoint on
a port nobody listens on, given up after one attempt, so the card shows a failure too, and
a chat webhook on a local receiver that takes the alarm and refuses its all-clear.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from shared.domain import AlarmLevel, Trigger
from shared.protocol import AlarmStored, RaiseAlarm, utc_now
from tests.console.conftest import row_of
from tests.support.hub import RunningHub
from tests.support.mailserver import LOGIN, PASSWORD, MailServer, start_mail_server
from tests.support.syncclient import TestAgent
from tests.support.tls import TlsFiles, make_tls
from tests.support.webhook_receiver import WebhookReceiver, start_webhook_receiver

API = "/api/v1"


@pytest.fixture(scope="module")
def smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TlsFiles, MailServer]]:
    tls = make_tls(tmp_path_factory.mktemp("smtp-tls"))
    server = start_mail_server(tls)
    yield tls, server
    server.stop()


@pytest.fixture(scope="module")
def chat() -> Iterator[WebhookReceiver]:
    receiver = start_webhook_receiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def demo_hub_env(smtp: tuple[TlsFiles, MailServer], chat: WebhookReceiver) -> dict[str, str]:
    tls, server = smtp
    dead = {"sms": {"url": "http://127.0.0.1:9/sms", "body": '{"to": "$to"}', "label": "SMS"}}
    live = {
        "chat": {"url": chat.url, "body": '{"text": "$subject", "kind": "$kind"}', "label": "Chat"}
    }
    return {
        "SILENT_ALARM_HEARTBEAT_INTERVAL": "1",
        "SILENT_ALARM_REDELIVER_INTERVAL": "0.5",
        "SILENT_ALARM_SMTP_HOST": "127.0.0.1",
        "SILENT_ALARM_SMTP_PORT": str(server.port),
        "SILENT_ALARM_SMTP_USERNAME": LOGIN,
        "SILENT_ALARM_SMTP_PASSWORD": PASSWORD,
        "SILENT_ALARM_SMTP_FROM": "alarm@zentrale.example.org",
        "SILENT_ALARM_SMTP_CA_FILE": str(tls.ca),
        "SILENT_ALARM_WEBHOOKS": json.dumps(dead | live),
        "SILENT_ALARM_CHANNEL_MAX_ATTEMPTS": "1",
        "SILENT_ALARM_CHANNEL_SEND_TIMEOUT": "2",
    }


def refused_without_a_trace(api: httpx.Client) -> None:
    """The API's refusals: 422 with the reason, and nothing stored."""
    path = f"{API}/sites/1/channel-recipients"
    good = {"level": 2, "channel": "email", "address": "a@example.org", "audience": "security"}
    for change, reason in (
        ({"address": "a@b"}, "one e-mail address"),
        ({"address": "a@example.org, b@example.org"}, "no spaces"),
        ({"channel": "webhook", "address": "fax:+4930"}, "no webhook endpoint 'fax'"),
        ({"channel": "espa", "address": "2041"}, "channel espa is not configured"),
        ({"after_s": 3601}, "after_s"),
        ({"audience": "everyone"}, "audience"),
    ):
        refused = api.post(path, json=good | change)
        assert refused.status_code == 422, refused.text
        assert reason in refused.text
    assert api.get(path).json() == []
    assert api.post(f"{path}/999/test").status_code == 404


def test_the_admin_tests_a_recipient_and_the_card_shows_each_channel(
    admin_page: Page,
    admin_api: httpx.Client,
    demo_hub: RunningHub,
    agents: Callable[..., TestAgent],
    smtp: tuple[TlsFiles, MailServer],
    chat: WebhookReceiver,
) -> None:
    _, server = smtp
    refused_without_a_trace(admin_api)
    page = admin_page
    hub_url = demo_hub.url
    page.goto(f"{hub_url}/admin/policies")
    page.get_by_test_id("level-3").click()
    panel = page.get_by_test_id("channel-recipients")
    form = panel.get_by_test_id("channel-form")
    form.get_by_test_id("channel-kind").select_option("email")
    form.get_by_test_id("channel-address").fill("kein-at-zeichen")
    form.get_by_test_id("channel-add").click()
    expect(form.get_by_test_id("channel-form-error")).to_contain_text("one e-mail address")
    form.get_by_test_id("channel-address").fill("wache@example.org")
    form.get_by_test_id("channel-label").fill("Wachleitung")
    form.get_by_test_id("channel-add").click()
    row = panel.get_by_test_id("channel-recipient")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Wachleitung")
    expect(row).to_contain_text("sofort")

    before = len(server.received)
    row.get_by_role("button", name="Testnachricht senden").click()
    expect(row.get_by_test_id("channel-test-outcome")).to_have_text("Testnachricht gesendet.")
    test_mail = server.wait(before + 1)[before]
    assert test_mail.rcpt_tos == ["wache@example.org"]
    assert "kein Alarm" in test_mail.message.get_content()

    for address in ("sms:+4917011", "chat:#empfang"):
        added = admin_api.post(
            f"{API}/sites/1/channel-recipients",
            json={"level": 3, "channel": "webhook", "address": address, "audience": "staff"},
        )
        assert added.status_code == 201, added.text

    page.goto(hub_url + "/")
    raiser = agents("pc-1-01")
    alarm_id = uuid.uuid4()
    raiser.send(
        RaiseAlarm(
            alarm_id=alarm_id, level=AlarmLevel.DANGER, trigger=Trigger.HOTKEY, raised_at=utc_now()
        )
    )
    raiser.expect(AlarmStored, lambda m: m.alarm_id == alarm_id)
    channels = row_of(page, alarm_id).get_by_test_id("channel")
    expect(channels).to_have_count(3, timeout=10_000)
    expect(channels.nth(0)).to_have_text("E-Mail 1/1", timeout=10_000)
    expect(channels.nth(1)).to_have_text(
        "SMS 0/1 fehlgeschlagen: webhook sms: cannot connect", timeout=10_000
    )
    expect(channels.nth(1)).to_have_class(re.compile(r"\bgiven-up\b"))
    expect(channels.nth(2)).to_have_text("Chat 1/1", timeout=10_000)
    alarm_mail = server.wait(before + 2)[before + 1]
    assert "Raum 1.01" in str(alarm_mail.message["Subject"])
    expect(row_of(page, alarm_id).get_by_test_id("all-clear-channels")).to_be_hidden()

    # The chat gateway is down when the guard gives the all-clear with the report: the
    # resolved row shows the e-mail's all-clear sent and the chat's failed, so the guard
    # knows whom to call; the SMS that never arrived is followed by no all-clear.
    chat.fail_next(1)
    row_of(page, alarm_id).get_by_role("button", name="Entwarnung").click()
    dialog = page.get_by_test_id("report-dialog")
    dialog.get_by_label("Notizen").fill("Besucher ging von selbst.")
    dialog.get_by_role("button", name="Entwarnung senden").click()
    resolved = page.get_by_test_id("resolved-alarms").locator(f'[data-alarm-id="{alarm_id}"]')
    expect(resolved.get_by_test_id("all-clear-channels")).to_contain_text("Entwarnung:")
    all_clears = resolved.get_by_test_id("all-clear-channel")
    expect(all_clears).to_have_count(2, timeout=10_000)
    expect(all_clears.nth(0)).to_have_text("E-Mail 1/1", timeout=10_000)
    expect(all_clears.nth(1)).to_have_text(
        "Chat 0/1 fehlgeschlagen: webhook chat: HTTP 503", timeout=10_000
    )
    expect(all_clears.nth(1)).to_have_class(re.compile(r"\bgiven-up\b"))
    all_clear_mail = server.wait(before + 3)[before + 2]
    assert str(all_clear_mail.message["Subject"]).strip().startswith("Entwarnung")
    assert all_clear_mail.message["In-Reply-To"] == alarm_mail.message["Message-ID"]
    kinds = [json.loads(r.body)["kind"] for r in chat.wait(2)]
    assert kinds == ["alarm", "all_clear"]  # the refused all-clear was tried once (max 1)

    # A reload (or the next shift's console) still lists it under "Kürzlich erledigt",
    # with its report and how its all-clears went: the failed chat is not forgotten.
    summary = resolved.get_by_test_id("report-summary").inner_text()
    assert summary.startswith("Vorfallbericht:")
    page.reload()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-status", "open")
    resolved = page.get_by_test_id("resolved-alarms").locator(f'[data-alarm-id="{alarm_id}"]')
    expect(resolved.get_by_test_id("report-summary")).to_have_text(summary)
    all_clears = resolved.get_by_test_id("all-clear-channel")
    expect(all_clears).to_have_count(2, timeout=10_000)
    expect(all_clears.nth(0)).to_have_text("E-Mail 1/1")
    expect(all_clears.nth(1)).to_have_text("Chat 0/1 fehlgeschlagen: webhook chat: HTTP 503")
    expect(row_of(page, alarm_id)).to_have_count(0)  # not back among the open ones
