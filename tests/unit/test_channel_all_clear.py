"""The all-clear over the channels (issue 20): what it says by audience and end, the duress
rule, when it is owed, its key, and what each channel makes of it (webhook ``$kind``, the
push payload without a token, the ESPA call's priority)."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from dispatch.channels.allclear import all_clear_key
from dispatch.channels.base import Audience, MessageKind
from dispatch.channels.content import AlarmFacts, probe_message, render, render_row
from dispatch.channels.espa444 import priority_for
from dispatch.channels.espa444_frames import Priority
from dispatch.channels.planning import idempotency_key
from dispatch.channels.webhook import render_body
from dispatch.channels.webpush import payload
from dispatch.settings import WebhookEndpoint
from shared.domain import AlarmLevel
from shared.protocol import RoomRef

ROOM = RoomRef(number="1.02", name="Beratung 2", floor="1. OG", building="Haus A", phone="-202")
ALL_CLEAR = MessageKind.ALL_CLEAR.value


def facts(level: AlarmLevel, *, drill: bool = False, withdrawn: bool = False) -> AlarmFacts:
    return AlarmFacts(
        alarm_id=uuid.UUID(int=9),
        level=level,
        drill=drill,
        site="Jobcenter Mitte",
        room=ROOM,
        workstation_id="pc-1-02",
        raiser="Herr Brandt",
        stored_at=datetime(2026, 12, 8, 9, 30, tzinfo=UTC),
        withdrawn=withdrawn,
    )


def all_clear(
    f: AlarmFacts, audience: Audience, level: int | None = None, language: str = "de"
) -> tuple[str, str, str | None]:
    message = render_row(f, ALL_CLEAR, audience, "k", language, level or int(f.level))
    assert message.kind is MessageKind.ALL_CLEAR
    return message.subject, message.body, message.room


def test_security_is_told_the_alarm_in_the_room_is_over() -> None:
    subject, body, room = all_clear(facts(AlarmLevel.THREAT), Audience.SECURITY)
    assert subject == "Entwarnung: Stiller Alarm Stufe 2 Bedrohung, Raum 1.02, ist beendet"
    assert body.splitlines()[0] == "Entwarnung: Der Stille Alarm in Raum 1.02 ist beendet."
    assert room == "1.02"
    assert "Herr Brandt" not in body  # nothing more than it takes to recognise the alarm


@pytest.mark.parametrize("language", ["de", "en"])
def test_level_3_staff_are_told_it_is_over_without_the_room(language: str) -> None:
    subject, body, room = all_clear(facts(AlarmLevel.DANGER), Audience.STAFF, language=language)
    assert room is None
    for secret in ("1.02", "Beratung", "Brandt", "1. OG", "Haus A", "-202"):
        assert secret not in subject + body
    word = "Entwarnung" if language == "de" else "All clear"
    assert subject.startswith(word)
    assert "Jobcenter Mitte" in subject  # where: the site, as the alarm's message said


def test_level_2_staff_get_the_room_they_were_asked_to() -> None:
    subject, _, room = all_clear(facts(AlarmLevel.THREAT), Audience.STAFF)
    assert room == "1.02"
    assert "Raum 1.02" in subject


def test_english_by_the_recipients_language() -> None:
    subject, body, _ = all_clear(facts(AlarmLevel.THREAT), Audience.SECURITY, language="en")
    assert subject == "All clear: silent alarm level 2 Threat, room 1.02, is over"
    assert body.splitlines()[0] == "All clear: the silent alarm in room 1.02 is over."


def test_a_drills_all_clear_is_marked_like_its_alarm() -> None:
    subject, body, _ = all_clear(facts(AlarmLevel.SUPPORT, drill=True), Audience.SECURITY)
    assert subject.startswith("ÜBUNG: Entwarnung")
    assert body.splitlines()[0] == "ÜBUNG"


@pytest.mark.parametrize("audience", [Audience.SECURITY, Audience.MANAGER])
def test_a_withdrawal_asks_security_to_follow_up_as_the_console_does(audience: Audience) -> None:
    subject, body, _ = all_clear(facts(AlarmLevel.THREAT, withdrawn=True), audience)
    assert subject.endswith("Raum 1.02: zurückgenommen – bitte nachfassen")
    assert "Bitte in Raum 1.02 nachfassen" in body


@pytest.mark.parametrize("level", [AlarmLevel.SUPPORT, AlarmLevel.THREAT, AlarmLevel.DANGER])
def test_staff_read_the_same_after_a_resolve_a_withdrawal_and_a_duress_withdrawal(
    level: AlarmLevel,
) -> None:
    """A duress cancel raises the stored alarm to level 3, but the all-clear is rendered at
    the level staff's row was planned with: word for word a normal withdrawal's."""
    resolved = all_clear(facts(level), Audience.STAFF)
    withdrawn = all_clear(facts(level, withdrawn=True), Audience.STAFF)
    under_duress = all_clear(facts(AlarmLevel.DANGER), Audience.STAFF, level=int(level))
    assert resolved == withdrawn == under_duress


def test_the_subject_fits_a_pager_display() -> None:
    for level in AlarmLevel:
        for audience in Audience:
            for withdrawn in (False, True):
                subject, _, _ = all_clear(facts(level, withdrawn=withdrawn), audience)
                assert len(subject) <= 100, subject  # ESPA_MAX_TEXT is 128 at most


def test_a_row_of_the_alarm_kind_is_the_alarm_message() -> None:
    f = facts(AlarmLevel.THREAT)
    assert render_row(f, "alarm", Audience.STAFF, "k", "de", 2) == render(f, Audience.STAFF, "k")
    assert probe_message("k", "x").kind is MessageKind.TEST


def test_the_all_clear_has_a_key_of_its_own() -> None:
    key = all_clear_key("a1", 7)
    assert key == all_clear_key("a1", 7)  # every attempt, every instance
    assert key not in {all_clear_key("a1", 8), all_clear_key("a2", 7), idempotency_key("a1", 7)}
    assert len(key) <= 64


def test_the_webhook_says_which_kind_of_message_it_is() -> None:
    endpoint = WebhookEndpoint(url="https://gw.example/send", body='{"kind": "$kind"}')
    message = render_row(facts(AlarmLevel.THREAT), ALL_CLEAR, Audience.STAFF, "k", "de", 2)
    assert json.loads(render_body(endpoint, message, "+49")) == {"kind": "all_clear"}
    alarm = render(facts(AlarmLevel.THREAT), Audience.STAFF, "k")
    assert json.loads(render_body(endpoint, alarm, "+49")) == {"kind": "alarm"}


def test_the_push_of_an_all_clear_has_its_kind_and_nothing_to_acknowledge() -> None:
    message = render_row(facts(AlarmLevel.THREAT), ALL_CLEAR, Audience.SECURITY, "k", "de", 2)
    data = json.loads(payload(message, None))
    assert (data["kind"], data["ack"], data["alarm_id"]) == ("all_clear", None, message.alarm_id)
    assert data["title"].startswith("Entwarnung")


def test_an_espa_all_clear_is_urgent_but_no_alarm_call() -> None:
    assert priority_for(3) is Priority.ALARM
    assert priority_for(3, MessageKind.ALL_CLEAR) is Priority.HIGH
    assert priority_for(1) is Priority.HIGH


def test_a_message_without_a_kind_is_an_alarm() -> None:
    message = render(facts(AlarmLevel.THREAT), Audience.STAFF, "k")
    assert replace(message, kind=MessageKind.ALARM) == message
