"""Issue 20 at hub level: e-mail and webhook/SMS to people away from a PC, through real servers.

One real hub for the module, a real SMTP server (aiosmtpd: STARTTLS required, AUTH
only after it, a private CA the hub is told to trust) and a real HTTP receiver for
the webhook. Recipients are written into the store as the admin page would (the REST
routes have their own tests); every wait is for a condition, bounded.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from shared.domain import AlarmLevel
from shared.protocol import (
    Acknowledge,
    AlarmChannels,
    AlarmStored,
    ChannelCount,
    RaiserStatus,
    utc_now,
)
from tests.integration.conftest import Connect, agents_of, set_policy
from tests.support.consoleclient import ConsoleClient, connect_console
from tests.support.hub import RunningHub, query, start_demo_hub
from tests.support.mailserver import LOGIN, PASSWORD, MailServer, start_mail_server
from tests.support.tls import TlsFiles, make_tls
from tests.support.webhook_receiver import WebhookReceiver, start_webhook_receiver

GATEWAY_TOKEN = "gw-token-Zq81-nie-im-Log"
HMAC_SECRET = "hmac-Schluessel-44a-nie-im-Log"
SENDER = "alarm@zentrale.example.org"
SMS = ("webhook", "SMS")  # the console's key of the "sms" endpoint, by its label
STORED_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy writes a UTC time into SQLite


def hub_env(tls: TlsFiles, mail: MailServer, receiver: WebhookReceiver) -> dict[str, str]:
    webhooks = {
        "sms": {
            "url": f"{receiver.url}/sms",
            "headers": {"Authorization": f"Bearer {GATEWAY_TOKEN}"},
            "body": '{"to": "$to", "text": "$subject\\n$body", "room": "$room"}',
            "secret": HMAC_SECRET,
            "label": "SMS",
        }
    }
    return {
        "SILENT_ALARM_SMTP_HOST": "127.0.0.1",
        "SILENT_ALARM_SMTP_PORT": str(mail.port),
        "SILENT_ALARM_SMTP_USERNAME": LOGIN,
        "SILENT_ALARM_SMTP_PASSWORD": PASSWORD,
        "SILENT_ALARM_SMTP_FROM": SENDER,
        "SILENT_ALARM_SMTP_CA_FILE": str(tls.ca),
        "SILENT_ALARM_WEBHOOKS": json.dumps(webhooks),
        "SILENT_ALARM_CHANNEL_SEND_TIMEOUT": "2",
        # One send at a time: the crash test holds one request while the next row is due.
        "SILENT_ALARM_CHANNEL_CONCURRENCY": "1",
    }


def add_recipient(
    hub: RunningHub,
    level: int,
    channel: str,
    address: str,
    audience: str,
    after_s: int = 0,
    label: str = "",
) -> int:
    """What the admin page stores (dispatch/channels/recipients.py), written directly."""
    with sqlite3.connect(hub.data_dir / "dispatch.sqlite3") as db:
        cursor = db.execute(
            "INSERT INTO channel_recipients (site_id, level, after_s, channel, address, label,"
            " audience, language, created_at) VALUES (1, ?, ?, ?, ?, ?, ?, 'de', ?)",
            (level, after_s, channel, address, label, audience, utc_now().strftime(STORED_TIME)),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid


def clear_recipients(hub: RunningHub) -> None:
    with sqlite3.connect(hub.data_dir / "dispatch.sqlite3") as db:
        db.execute("DELETE FROM channel_recipients")


def deliveries(hub: RunningHub, alarm_id: object) -> list[tuple[object, ...]]:
    return query(
        hub,
        "SELECT address, audience, state, attempts, after_s, idempotency_key, reference,"
        " last_error FROM channel_deliveries WHERE alarm_id = ? ORDER BY id",
        str(alarm_id),
    )


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Polls ``condition()`` until it is true; the hub keeps working meanwhile."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        await asyncio.sleep(0.05)


async def counts_until(
    console: ConsoleClient,
    alarm_id: uuid.UUID,
    check: Callable[[dict[tuple[str, str], ChannelCount]], bool],
    timeout: float = 10.0,
) -> dict[tuple[str, str], ChannelCount]:
    """The console's channel counts of an alarm, once ``check`` holds for them."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"the console's channel counts never passed within {timeout} s")
        message = await console.expect(AlarmChannels, timeout=left, alarm_id=alarm_id)
        counted = {(c.channel, c.name): c for c in message.channels}
        if check(counted):
            return counted


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TlsFiles, MailServer, WebhookReceiver]]:
    tls = make_tls(tmp_path_factory.mktemp("smtp-tls"))
    mail = start_mail_server(tls)
    receiver = start_webhook_receiver()
    try:
        yield tls, mail, receiver
    finally:
        receiver.stop()
        mail.stop()


@pytest.fixture(scope="module")
def channel_hub(
    tmp_path_factory: pytest.TempPathFactory,
    servers: tuple[TlsFiles, MailServer, WebhookReceiver],
) -> Iterator[RunningHub]:
    hub = start_demo_hub(tmp_path_factory.mktemp("channels"), env=hub_env(*servers))
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture
async def agent(channel_hub: RunningHub) -> AsyncIterator[Connect]:
    clear_recipients(channel_hub)
    async with agents_of(channel_hub) as connect:
        yield connect


async def test_level_3_reaches_email_and_sms_with_the_content_rules(
    agent: Connect,
    channel_hub: RunningHub,
    servers: tuple[TlsFiles, MailServer, WebhookReceiver],
) -> None:
    """Staff learn to lock the door and nothing of the room or the raiser; security gets the
    room and the police instruction; each within 5 s of the alarm, over STARTTLS and AUTH,
    with the idempotency key as Message-ID and header and a valid HMAC signature. A sent
    e-mail is no confirmation: with nobody's popup on screen the raiser is told nobody
    was reached."""
    _, mail, receiver = servers
    set_policy(channel_hub.data_dir, 3, ["security"], [], raiser_feedback="count")
    with sqlite3.connect(channel_hub.data_dir / "dispatch.sqlite3") as db:
        db.execute("UPDATE alarm_policies SET nobody_reached_s = 3 WHERE site_id = 1 AND level = 3")
    add_recipient(channel_hub, 3, "email", "personal@example.org", "staff", label="Personalrat")
    add_recipient(channel_hub, 3, "email", "wache@example.org", "security", label="Wache")
    add_recipient(channel_hub, 3, "webhook", "sms:+4917011", "staff")
    add_recipient(channel_hub, 3, "webhook", "sms:+4917022", "security")
    mails_before, requests_before = len(mail.received), len(receiver.requests)
    console = await connect_console(channel_hub)
    raiser = await agent("pc-1-01")
    sent = await raiser.raise_alarm(AlarmLevel.DANGER)
    stored_at = time.monotonic()
    await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)

    mails = (await asyncio.to_thread(mail.wait, mails_before + 2))[mails_before:]
    requests = (await asyncio.to_thread(receiver.wait, requests_before + 2))[requests_before:]
    assert time.monotonic() - stored_at <= 5.0
    by_to = {m.rcpt_tos[0]: m for m in mails}
    staff, security = by_to["personal@example.org"], by_to["wache@example.org"]
    assert staff.tls  # AUTH happened after STARTTLS (aiosmtpd refuses it before)
    assert security.tls
    assert mail.logins
    staff_text = str(staff.message["Subject"]) + staff.message.get_content()
    assert "Tür abschließen" in staff_text
    for secret in ("1.01", "Beratung 1", "Albers"):
        assert secret not in staff_text
    security_text = str(security.message["Subject"]) + security.message.get_content()
    assert "Raum 1.01" in str(security.message["Subject"])
    assert "Polizei rufen (110)" in security_text
    assert "Frau Albers" in security_text
    rows = {r[0]: r for r in deliveries(channel_hub, sent.alarm_id)}
    assert (
        security.message["Message-ID"] == f"<{rows['wache@example.org'][5]}@zentrale.example.org>"
    )

    sms = {json.loads(r.body)["to"]: r for r in requests}
    staff_sms, security_sms = json.loads(sms["+4917011"].body), json.loads(sms["+4917022"].body)
    assert staff_sms["room"] == ""
    assert "1.01" not in staff_sms["text"]
    assert "Albers" not in staff_sms["text"]
    assert security_sms["room"] == "1.01"
    for request in requests:
        assert request.headers["authorization"] == f"Bearer {GATEWAY_TOKEN}"
        expected = hmac.new(HMAC_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["x-silent-alarm-signature"] == f"sha256={expected}"
    assert sms["+4917022"].headers["idempotency-key"] == rows["sms:+4917022"][5]

    await until(lambda: all(r[2] == "sent" for r in deliveries(channel_hub, sent.alarm_id)))
    counted = await counts_until(
        console,
        sent.alarm_id,
        lambda c: all(count.sent == 2 for count in c.values()) and len(c) == 2,
    )
    assert {k: (c.sent, c.recipients) for k, c in counted.items()} == {
        ("email", ""): (2, 2),
        ("webhook", "SMS"): (2, 2),
    }
    status = await raiser.expect(
        RaiserStatus, alarm_id=sent.alarm_id, timeout=10, nobody_reached=True
    )
    assert status.nobody_reached  # two e-mails and two SMS sent: still nobody confirmed
    await console.close()


async def test_an_escalation_step_goes_out_after_its_time_unless_acknowledged(
    agent: Connect,
    channel_hub: RunningHub,
    servers: tuple[TlsFiles, MailServer, WebhookReceiver],
) -> None:
    """Two alarms stored together with a step after 2 s: the one nobody took is e-mailed
    ≥ 2 s and ≤ 2 + 5 s after storing; the one acknowledged at once never gets the step,
    as the same planning round that sent the first shows."""
    _, mail, _ = servers
    set_policy(channel_hub.data_dir, 1, ["security"], [])
    add_recipient(channel_hub, 1, "email", "leitung@example.org", "manager", after_s=2)
    before = len(mail.received)
    console = await connect_console(channel_hub)
    raiser = await agent("pc-1-01")
    other = await agent("pc-1-03")
    taken, left = (
        await raiser.raise_alarm(AlarmLevel.SUPPORT),
        await other.raise_alarm(AlarmLevel.SUPPORT),
    )
    await raiser.expect(AlarmStored, alarm_id=taken.alarm_id)
    await other.expect(AlarmStored, alarm_id=left.alarm_id)
    stored = time.monotonic()
    await console.send(Acknowledge(alarm_id=taken.alarm_id))
    mails = (await asyncio.to_thread(mail.wait, before + 1))[before:]
    elapsed = time.monotonic() - stored
    assert 1.5 <= elapsed <= 7.0, elapsed  # 2 s after storing (stored just before `stored`)
    assert [m.rcpt_tos for m in mails] == [["leitung@example.org"]]
    assert "Raum 1.03" in str(mails[0].message["Subject"])
    assert deliveries(channel_hub, taken.alarm_id) == []  # acknowledged: the step stopped
    await console.close()


async def test_a_failing_gateway_is_retried_with_backoff_under_one_key(
    agent: Connect,
    channel_hub: RunningHub,
    servers: tuple[TlsFiles, MailServer, WebhookReceiver],
) -> None:
    """503 twice, then 200: three requests 1 s and 2 s apart, the same Idempotency-Key, one
    row sent after 3 attempts; the console saw "retrying" with the reason meanwhile."""
    _, _, receiver = servers
    set_policy(channel_hub.data_dir, 2, ["security"], [])
    add_recipient(channel_hub, 2, "webhook", "sms:+4917033", "security")
    before = len(receiver.requests)
    receiver.fail_next(2)
    console = await connect_console(channel_hub)
    raiser = await agent("pc-1-01")
    sent = await raiser.raise_alarm(AlarmLevel.THREAT)
    await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
    retrying = await counts_until(
        console, sent.alarm_id, lambda c: SMS in c and c[SMS].retrying == 1
    )
    assert retrying[SMS].reason == "webhook sms: HTTP 503"
    requests = (await asyncio.to_thread(receiver.wait, before + 3, 15))[before:]
    assert {r.headers["idempotency-key"] for r in requests} == {
        requests[0].headers["idempotency-key"]
    }
    gaps = [b.at - a.at for a, b in itertools.pairwise(requests)]
    assert gaps[0] >= 0.9, gaps  # 1 s after the first failure
    assert gaps[1] >= 1.9, gaps  # 2 s after the second
    await until(lambda: [r[2:4] for r in deliveries(channel_hub, sent.alarm_id)] == [("sent", 3)])
    done = await counts_until(console, sent.alarm_id, lambda c: SMS in c and c[SMS].sent == 1)
    assert done[SMS].reason is None
    await console.close()


def test_no_secret_reaches_the_hub_log(channel_hub: RunningHub) -> None:
    """Runs after the sends above (module order): the SMTP password, the gateway's token and
    the HMAC key never appear in what the hub wrote."""
    log = channel_hub.log()
    assert "channel_sent" in log  # the sends were logged
    for secret in (PASSWORD, GATEWAY_TOKEN, HMAC_SECRET):
        assert secret not in log
    audit = str(query(channel_hub, "SELECT detail FROM audit_events"))
    for secret in (PASSWORD, GATEWAY_TOKEN, HMAC_SECRET):
        assert secret not in audit


async def test_a_hub_killed_mid_send_sends_each_message_after_the_restart(
    channel_hub: RunningHub,
    servers: tuple[TlsFiles, MailServer, WebhookReceiver],
) -> None:
    """One send at a time (the module's hub sends one at once): the gateway holds the first
    request (the hub is mid-send) while the second row is due; SIGKILL; the restarted hub
    sends both. The one that was due is sent once; the one cut off mid-send is sent again
    under the SAME Idempotency-Key (at least once, docs/channels.md), and each row ends
    "sent" exactly once. Last in the module: it kills the module's hub."""
    tls, mail, receiver = servers
    clear_recipients(channel_hub)
    add_recipient(channel_hub, 2, "webhook", "sms:+4917044", "security")
    add_recipient(channel_hub, 2, "webhook", "sms:+4917055", "manager")
    before = len(receiver.requests)
    receiver.hold()
    hub = channel_hub
    try:
        async with agents_of(hub) as agent:
            raiser = await agent("pc-1-05")
            sent = await raiser.raise_alarm(AlarmLevel.THREAT)
            await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
            held = (await asyncio.to_thread(receiver.wait, before + 1))[before]
            states = sorted(str(r[2]) for r in deliveries(hub, sent.alarm_id))
            assert states == ["due", "sending"]
        hub.kill()
        receiver.release()
        hub = start_demo_hub(hub.data_dir, port=hub.port, env=hub_env(tls, mail, receiver))
        # The cut-off send is taken up after its lease (2 × 2 s), the due one at once.
        await until(lambda: [r[2] for r in deliveries(hub, sent.alarm_id)] == ["sent", "sent"], 20)
        keys = [r.headers["idempotency-key"] for r in receiver.requests[before:]]
        held_key = held.headers["idempotency-key"]
        assert keys.count(held_key) == 2  # the held request and its re-send
        others = [k for k in keys if k != held_key]
        assert len(others) == 1  # the row that was only due: sent once
    finally:
        receiver.release()
        hub.stop()
