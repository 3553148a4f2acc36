"""Issue 20's all-clear at hub level: a real hub, a real SMTP server and a real SMS gateway.

When an alarm ends, whoever was sent its message gets one all-clear on the same channel:
after a resolve, after a withdrawal (security asked to follow up, as the console does) and,
for staff, after a duress withdrawal exactly as after a normal one. Nobody whose message was
not sent gets one, the console's channel counts stay the alarm's, and a hub killed with
SIGKILL after the resolve sends it once after its restart. Every wait is for an event,
bounded; a claim that something was NOT sent waits for the planning round that decided it
(the all-clears of one round are written in one transaction).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest

from shared.domain import AlarmLevel, AlarmState
from shared.protocol import (
    AlarmStored,
    AlarmUpdate,
    CancelAlarm,
    IncidentReport,
    RaiserStatus,
    Resolve,
)
from tests.integration.conftest import Connect, agents_of
from tests.integration.test_channels import (
    add_recipient,
    clear_recipients,
    counts_until,
    hub_env,
    until,
)
from tests.support.consoleclient import connect_console
from tests.support.hub import RunningHub, query, start_demo_hub
from tests.support.mailserver import MailServer, Received, start_mail_server
from tests.support.tls import TlsFiles, make_tls
from tests.support.webhook_receiver import Request, WebhookReceiver, start_webhook_receiver
from tests.support.wsclient import AgentClient

Servers = tuple[TlsFiles, MailServer, WebhookReceiver]


def rows(hub: RunningHub, alarm_id: object) -> list[tuple[str, str, str, str, str]]:
    """(address, audience, kind, state, idempotency key) of the alarm's queue rows."""
    found = query(
        hub,
        "SELECT address, audience, kind, state, idempotency_key FROM channel_deliveries"
        " WHERE alarm_id = ? ORDER BY id",
        str(alarm_id),
    )
    return [(str(a), str(b), str(c), str(d), str(e)) for a, b, c, d, e in found]


def all_clears(hub: RunningHub, alarm_id: object) -> dict[str, tuple[str, str]]:
    """address -> (state, key) of the alarm's all-clear rows."""
    return {a: (s, k) for a, _, kind, s, k in rows(hub, alarm_id) if kind == "all_clear"}


def mails_with(mail: MailServer, key: str) -> list[Received]:
    return [m for m in mail.received if m.message["Message-ID"] == f"<{key}@zentrale.example.org>"]


def requests_with(receiver: WebhookReceiver, key: str) -> list[Request]:
    return [r for r in receiver.requests if r.headers["idempotency-key"] == key]


def text_of(message: Received) -> str:
    return f"{message.message['Subject']}\n{message.message.get_content()}"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    tls = make_tls(tmp_path_factory.mktemp("smtp-tls"))
    mail = start_mail_server(tls)
    receiver = start_webhook_receiver()
    try:
        yield tls, mail, receiver
    finally:
        receiver.stop()
        mail.stop()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, servers: Servers) -> Iterator[RunningHub]:
    running = start_demo_hub(tmp_path_factory.mktemp("all-clear"), env=hub_env(*servers))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def agent(hub: RunningHub) -> AsyncIterator[Connect]:
    clear_recipients(hub)
    async with agents_of(hub) as connect:
        yield connect


async def resolve(hub: RunningHub, alarm_id: uuid.UUID, level: AlarmLevel) -> None:
    """The all-clear on the console, with the incident report a real alarm needs."""
    console = await connect_console(hub)
    try:
        report = IncidentReport(assessed_level=level)
        await console.send(Resolve(alarm_id=alarm_id, report=report))
        await until(lambda: query(hub, "SELECT state FROM alarms WHERE id = ?", str(alarm_id))
                    == [("resolved",)])  # fmt: skip
    finally:
        await console.close()


async def test_a_resolve_sends_one_all_clear_to_each_recipient_sent_the_alarm(
    agent: Connect, hub: RunningHub, servers: Servers
) -> None:
    """Level 3: staff (e-mail and SMS) learned to lock the door, security the room; a manager's
    step after 10 minutes was not due. Resolved: staff get "Entwarnung" without the room,
    security with it, each once under a key of its own; the manager gets nothing."""
    _, mail, receiver = servers
    add_recipient(hub, 3, "email", "personal@example.org", "staff")
    add_recipient(hub, 3, "email", "wache@example.org", "security")
    add_recipient(hub, 3, "webhook", "sms:+4917011", "staff")
    add_recipient(hub, 3, "email", "leitung@example.org", "manager", after_s=600)
    raiser = await agent("pc-1-01")
    sent = await raiser.raise_alarm(AlarmLevel.DANGER)
    await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
    await until(lambda: [r[3] for r in rows(hub, sent.alarm_id)] == ["sent"] * 3, 15)
    alarm_keys = {r[0]: r[4] for r in rows(hub, sent.alarm_id)}

    await resolve(hub, sent.alarm_id, AlarmLevel.DANGER)
    await until(lambda: [s for s, _ in all_clears(hub, sent.alarm_id).values()] == ["sent"] * 3, 15)
    keys = {address: key for address, (_, key) in all_clears(hub, sent.alarm_id).items()}
    # The step that was not due never got a row, and the resolved alarm plans none: the
    # round that made the three all-clears made no fourth.
    assert set(keys) == {"personal@example.org", "wache@example.org", "sms:+4917011"}
    assert not set(keys.values()) & set(alarm_keys.values())  # keys of their own
    staff_mails = mails_with(mail, keys["personal@example.org"])
    security_mails = mails_with(mail, keys["wache@example.org"])
    sms = requests_with(receiver, keys["sms:+4917011"])
    assert (len(staff_mails), len(security_mails), len(sms)) == (1, 1, 1)  # once each
    # Each all-clear mail answers its alarm mail: one thread in the recipient's inbox.
    for mails, address in (
        (staff_mails, "personal@example.org"),
        (security_mails, "wache@example.org"),
    ):
        alarm_id_header = f"<{alarm_keys[address]}@zentrale.example.org>"
        assert mails[0].message["In-Reply-To"] == alarm_id_header
        assert mails[0].message["References"] == alarm_id_header
    staff_text = text_of(staff_mails[0])
    assert staff_text.startswith("Entwarnung: Stiller Alarm Stufe 3 Gefahr / Amok am Standort")
    assert "ist beendet" in staff_text
    for secret in ("1.01", "Beratung", "Albers"):
        assert secret not in staff_text
    security_text = text_of(security_mails[0])
    assert "Raum 1.01, ist beendet" in security_text
    staff_sms = json.loads(sms[0].body)
    assert staff_sms["room"] == ""
    assert staff_sms["text"].startswith("Entwarnung")
    assert "1.01" not in staff_sms["text"]
    assert all(m.rcpt_tos != ["leitung@example.org"] for m in mail.received)


async def withdraw(
    hub: RunningHub, raiser: AgentClient, receiver: WebhookReceiver, *, duress: bool
) -> tuple[uuid.UUID, dict[str, object]]:
    """A level-2 alarm sent to both recipients, then withdrawn: its id and staff's SMS
    all-clear as the gateway got it."""
    sent = await raiser.raise_alarm(AlarmLevel.THREAT)
    alarm_id = sent.alarm_id
    await raiser.expect(AlarmStored, alarm_id=alarm_id)
    await until(lambda: [r[3] for r in rows(hub, alarm_id)] == ["sent"] * 2, 15)
    await raiser.send(CancelAlarm(alarm_id=alarm_id, duress=duress))
    await raiser.expect(RaiserStatus, alarm_id=alarm_id, state=AlarmState.CANCELLED)
    await raiser.expect(AlarmUpdate, alarm_id=alarm_id, state=AlarmState.CANCELLED)
    await until(lambda: all_clears(hub, alarm_id).get("sms:+4917022", ("",))[0] == "sent")
    [request] = requests_with(receiver, all_clears(hub, alarm_id)["sms:+4917022"][1])
    sms: dict[str, object] = json.loads(request.body)
    return alarm_id, sms


async def test_a_withdrawal_and_a_duress_withdrawal_tell_staff_the_same(
    agent: Connect, hub: RunningHub, servers: Servers
) -> None:
    """Level 2, withdrawn by the raiser: staff's SMS all-clear, security's e-mail asks to
    follow up. Again, withdrawn under duress: staff's SMS reads the same (the alarm is now
    level 3 for security), security is told nothing until the alarm is resolved. The
    console's channel counts of that open alarm leave the all-clear out."""
    _, mail, receiver = servers
    add_recipient(hub, 2, "webhook", "sms:+4917022", "staff")
    add_recipient(hub, 2, "email", "wache2@example.org", "security")
    raiser = await agent("pc-1-01")
    told: dict[bool, dict[str, object]] = {}
    alarms: dict[bool, uuid.UUID] = {}
    for duress in (False, True):
        alarms[duress], told[duress] = await withdraw(hub, raiser, receiver, duress=duress)
    withdrawn, under_duress = alarms[False], alarms[True]
    # Security's e-mail after the normal withdrawal: follow up, as the console says.
    await until(lambda: len(all_clears(hub, withdrawn)) == 2)
    key = all_clears(hub, withdrawn)["wache2@example.org"][1]
    await until(lambda: bool(mails_with(mail, key)))
    [followed_up] = mails_with(mail, key)
    assert "zurückgenommen – bitte nachfassen" in str(followed_up.message["Subject"])
    assert "Bitte in Raum 1.01 nachfassen" in followed_up.message.get_content()
    # After the duress withdrawal staff's all-clear was written in the round that decided
    # security's too: security is owed none while the alarm goes on at level 3.
    assert set(all_clears(hub, under_duress)) == {"sms:+4917022"}

    def alike(sms: dict[str, object]) -> str:
        return "\n".join(line for line in str(sms["text"]).splitlines() if "Gemeldet" not in line)

    assert alike(told[True]) == alike(told[False])
    assert told[True]["room"] == told[False]["room"] == "1.01"
    assert str(told[True]["text"]).startswith("Entwarnung: Stiller Alarm Stufe 2 Bedrohung")

    # The alarm withdrawn under duress is open on the console at level 3, its staff's SMS
    # all-clear sent: a console connecting now counts "SMS 1/1", "E-Mail 1/1" (the
    # alarm's messages), not 2/2 with the all-clear.
    console = await connect_console(hub)
    try:
        counted = await counts_until(console, under_duress, lambda c: True)
    finally:
        await console.close()
    assert {k: (c.sent, c.recipients) for k, c in counted.items()} == {
        ("webhook", "SMS"): (1, 1),
        ("email", ""): (1, 1),
    }

    await resolve(hub, under_duress, AlarmLevel.DANGER)
    await until(lambda: all_clears(hub, under_duress).get("wache2@example.org", ("",))[0] == "sent")
    key = all_clears(hub, under_duress)["wache2@example.org"][1]
    [over] = mails_with(mail, key)
    assert "ist beendet" in str(over.message["Subject"])
    assert len(requests_with(receiver, all_clears(hub, under_duress)["sms:+4917022"][1])) == 1


async def test_a_hub_killed_after_the_resolve_sends_the_all_clear_once_after_its_restart(
    hub: RunningHub, servers: Servers
) -> None:
    """One send at a time per channel (the module's hub): the gateway holds another alarm's
    SMS while this alarm's all-clear SMS is due; SIGKILL. The restarted hub sends the
    all-clear: one request under its key, the row sent. Last in the module: it kills the
    module's hub."""
    tls, mail, receiver = servers
    clear_recipients(hub)
    add_recipient(hub, 2, "webhook", "sms:+4917066", "security")
    running = hub
    try:
        async with agents_of(running) as connect:
            raiser = await connect("pc-1-05")
            sent = await raiser.raise_alarm(AlarmLevel.THREAT)
            await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
            await until(lambda: [r[3] for r in rows(running, sent.alarm_id)] == ["sent"], 15)
            # Another alarm's SMS takes the webhook channel's one slot, held by the gateway.
            add_recipient(running, 1, "webhook", "sms:+4917033", "security")
            before = len(receiver.requests)
            receiver.hold()
            other = await raiser.raise_alarm(AlarmLevel.SUPPORT)
            await raiser.expect(AlarmStored, alarm_id=other.alarm_id)
            await asyncio.to_thread(receiver.wait, before + 1)
            await resolve(running, sent.alarm_id, AlarmLevel.THREAT)
            await until(lambda: bool(all_clears(running, sent.alarm_id)), 10)
            [(state, key)] = all_clears(running, sent.alarm_id).values()
            assert state == "due"
        running.kill()
        receiver.release()
        running = start_demo_hub(hub.data_dir, port=hub.port, env=hub_env(tls, mail, receiver))
        await until(lambda: all_clears(running, sent.alarm_id)["sms:+4917066"][0] == "sent", 20)
        await until(lambda: [r[3] for r in rows(running, other.alarm_id)] == ["sent"], 20)
    finally:
        receiver.release()
        running.stop()
    assert len(requests_with(receiver, key)) == 1
    assert Counter(r[2] for r in rows(running, sent.alarm_id)) == {"alarm": 1, "all_clear": 1}
