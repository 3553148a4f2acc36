"""What outbound messages say (issue 20): the level-3 content rules on every channel, drills,
English, the webhook body's escaping and signature, and the e-mail's Message-ID."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest
from pydantic import SecretStr

from dispatch.channels.base import Audience, OutboundMessage
from dispatch.channels.content import AlarmFacts, probe_message, render, render_row
from dispatch.channels.email import EmailChannel
from dispatch.channels.webhook import render_body, signature, split_address
from dispatch.settings import Settings, WebhookEndpoint
from shared.domain import AlarmLevel
from shared.protocol import RoomRef

ROOM = RoomRef(
    number="1.01",
    name="Beratung 1",
    floor="1. OG",
    building="Haus A",
    entrance="Eingang A / Treppenhaus 1",
    phone="-201",
)


def facts(level: AlarmLevel, *, drill: bool = False, room: RoomRef | None = ROOM) -> AlarmFacts:
    return AlarmFacts(
        alarm_id=uuid.UUID(int=7),
        level=level,
        drill=drill,
        site="Jobcenter Mitte",
        room=room,
        workstation_id="pc-1-01",
        raiser="Frau Albers",
        stored_at=datetime(2026, 12, 6, 14, 0, tzinfo=UTC),
    )


def everything(message: OutboundMessage) -> str:
    return f"{message.subject}\n{message.body}\n{message.room}"


@pytest.mark.parametrize("language", ["de", "en"])
def test_level_3_staff_learn_neither_room_nor_raiser(language: str) -> None:
    message = render(facts(AlarmLevel.DANGER), Audience.STAFF, "k", language)
    assert message.room is None
    for secret in ("1.01", "Beratung", "Albers", "Eingang A", "-201", "1. OG", "Haus A"):
        assert secret not in everything(message)
    assert ("Tür abschließen" if language == "de" else "lock your door") in message.subject
    assert "Jobcenter Mitte" in message.body  # where the danger is: the site, nothing finer


@pytest.mark.parametrize("audience", [Audience.SECURITY, Audience.MANAGER])
def test_level_3_security_gets_the_room_and_the_police_first(audience: Audience) -> None:
    message = render(facts(AlarmLevel.DANGER), audience, "k")
    assert message.room == "1.01"
    assert message.subject == "Stiller Alarm Stufe 3 Gefahr / Amok: Raum 1.01"
    first = message.body.splitlines()[0]
    assert first.startswith("Polizei rufen (110), Bereich sichern")
    for shown in ("Beratung 1", "1. OG", "Haus A", "Eingang A", "-201", "Frau Albers"):
        assert shown in message.body


def test_level_2_staff_are_asked_to_the_room_without_a_name() -> None:
    message = render(facts(AlarmLevel.THREAT), Audience.STAFF, "k")
    assert message.room == "1.01"
    assert "Bitte kommen Sie zur Unterstützung: Raum 1.01." in message.body
    assert "Albers" not in everything(message)


def test_a_drill_says_so_first_and_an_unplaced_pc_is_named() -> None:
    message = render(facts(AlarmLevel.SUPPORT, drill=True, room=None), Audience.SECURITY, "k")
    assert message.subject.startswith("ÜBUNG: ")
    assert message.body.splitlines()[0] == "ÜBUNG"
    assert "pc-1-01" in message.body
    assert message.room is None


def test_the_subject_is_short() -> None:
    for level in AlarmLevel:
        for audience in Audience:
            assert len(render(facts(level), audience, "k").subject) <= 80


def test_a_test_message_says_there_is_no_alarm() -> None:
    message = probe_message("k", "Wache Handy")
    assert "kein Alarm" in message.body
    assert "Wache Handy" in message.body


SMS = WebhookEndpoint(
    url="https://gateway.example/send",
    body='{"to": "$to", "text": "$subject\\n$body", "room": "$room"}',
    secret=SecretStr("k3y"),
)


def test_a_json_body_escapes_every_field() -> None:
    message = render(facts(AlarmLevel.THREAT), Audience.SECURITY, "key-1")
    tricky = replace(message, subject='a "quoted" \\ line\nnext')
    body = json.loads(render_body(SMS, tricky, "+49170"))
    assert body["to"] == "+49170"
    assert body["text"].startswith('a "quoted" \\ line\nnext\n')
    assert body["room"] == "1.01"


def test_a_form_body_quotes_every_field() -> None:
    form = WebhookEndpoint(url="https://g.example/", body="to=$to&msg=$subject",
                           content_type="application/x-www-form-urlencoded")  # fmt: skip
    message = render(facts(AlarmLevel.THREAT), Audience.SECURITY, "k")
    fields = parse_qs(render_body(form, message, "+49 170&x=1").decode())
    assert fields == {"to": ["+49 170&x=1"], "msg": [message.subject]}


def test_the_signature_is_the_hmac_of_the_exact_body() -> None:
    body = b'{"to": "1"}'
    expected = hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    assert signature("k3y", body) == f"sha256={expected}"


def test_addresses_name_the_endpoint_first() -> None:
    assert split_address("sms:+49:170") == ("sms", "+49:170")
    assert split_address("chat") == ("chat", "")


@pytest.mark.parametrize(
    ("body", "complaint"),
    [("$nonsense", "unknown placeholders"), ("costs 5$", "no placeholder")],
)
def test_a_bad_template_refuses_to_start(body: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        WebhookEndpoint(url="https://g.example/", body=body)


def test_smtp_needs_a_sender_and_webhook_names_are_plain() -> None:
    with pytest.raises(ValueError, match="SMTP_FROM"):
        Settings(smtp_host="mail.example")
    with pytest.raises(ValueError, match="webhook name"):
        Settings(webhooks={"a b": SMS})


def test_the_message_id_is_the_idempotency_key() -> None:
    channel = EmailChannel(Settings(smtp_host="mail.example", smtp_from="alarm@amt.example"))
    message = render(facts(AlarmLevel.THREAT), Audience.SECURITY, "a1b2")
    mail = channel.compose(message, "wache@amt.example")
    assert mail["Message-ID"] == "<a1b2@amt.example>"
    assert mail["Subject"] == message.subject
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["In-Reply-To"] is None  # an alarm starts its thread


def test_the_all_clear_mail_answers_its_alarm_mail() -> None:
    channel = EmailChannel(Settings(smtp_host="mail.example", smtp_from="alarm@amt.example"))
    row = render_row(facts(AlarmLevel.THREAT), "all_clear", Audience.STAFF, "c3d4", "de", 2, "a1b2")
    mail = channel.compose(row, "personal@amt.example")
    assert mail["Message-ID"] == "<c3d4@amt.example>"
    assert mail["In-Reply-To"] == mail["References"] == "<a1b2@amt.example>"
