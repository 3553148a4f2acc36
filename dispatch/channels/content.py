"""What an outbound message says, by level and audience: the level-3 content rules, in one place.

Level 3 staff learn that there is danger at the site and what to do (lock the door,
stay away), never the room or who raised it: a message can be read over a shoulder
or on a locked phone's screen, and the attacker must not learn where people hide or
who called. Security and the emergency manager get the room, how to get there, who
raised it and, at level 3, the police instruction. Staff at levels 1 and 2 get the
room (they are asked to help there) but no name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from dispatch.channels.base import Audience, MessageKind, OutboundMessage
from dispatch.channels.texts import CATALOGUE
from shared.domain import AlarmLevel
from shared.protocol import RoomRef


@dataclass(frozen=True, slots=True)
class AlarmFacts:
    """What the hub knows of one stored alarm, read once for all its messages."""

    alarm_id: uuid.UUID
    level: AlarmLevel
    drill: bool
    site: str
    room: RoomRef | None  # from the hub's mapping at store time; None: an unplaced PC
    workstation_id: str
    raiser: str | None
    stored_at: datetime
    # The raiser withdrew it in the window (a normal cancel, never a duress one): security's
    # all-clear asks them to follow up, as the console does.
    withdrawn: bool = False


def render(
    facts: AlarmFacts, audience: Audience, idempotency_key: str, language: str = "de"
) -> OutboundMessage:
    """The message for one recipient; ``room`` is None whenever the audience must not know it."""
    t = CATALOGUE.text
    lang = CATALOGUE.language(language)
    level = int(facts.level)
    level_name = t(f"level_{level}", lang)
    stay_away = audience is Audience.STAFF and facts.level is AlarmLevel.DANGER
    room = None if stay_away or facts.room is None else facts.room
    if stay_away:
        subject = t("subject_stay_away", lang, level_name=level_name)
        lines = [t("stay_away", lang, site=facts.site)]
    else:
        subject = (
            t("subject_room", lang, level=level, level_name=level_name, room=room.number)
            if room is not None
            else t("subject_no_room", lang, level=level, level_name=level_name, site=facts.site)
        )
        lines = _told_where(facts, audience, room, lang)
    return _message(facts, idempotency_key, level, audience, room, subject, lines, lang)


def _told_where(
    facts: AlarmFacts, audience: Audience, room: RoomRef | None, lang: str
) -> list[str]:
    t = CATALOGUE.text
    if room is None:
        return [t("no_room", lang, workstation=facts.workstation_id)]
    if audience is Audience.STAFF:
        return [t("come_help", lang, room=room.number), _where(room, lang)]
    instruction = "secure_and_call_police" if facts.level is AlarmLevel.DANGER else "security_help"
    lines = [t(instruction, lang, room=room.number), _where(room, lang)]
    if room.entrance:
        lines.append(t("entrance", lang, entrance=room.entrance))
    if room.phone:
        lines.append(t("phone", lang, phone=room.phone))
    if facts.raiser:
        lines.append(t("raiser", lang, raiser=facts.raiser))
    return lines


def _where(room: RoomRef, lang: str) -> str:
    building = f", {room.building}" if room.building else ""
    return CATALOGUE.text(
        "where", lang, room=room.number, name=room.name, floor=room.floor, building=building
    )


def render_row(
    facts: AlarmFacts,
    kind: str,
    audience: Audience,
    idempotency_key: str,
    language: str,
    level: int,
    follows: str = "",
) -> OutboundMessage:
    """A queue row's message: the alarm's, or its all-clear (``level``: the row's;
    ``follows``: the key of the alarm message an all-clear follows up)."""
    if kind == MessageKind.ALL_CLEAR.value:
        # A row from before the level was kept (0) reads the stored one.
        message = render_all_clear(
            facts, audience, idempotency_key, language, level or int(facts.level)
        )
        return replace(message, follows=follows)
    return render(facts, audience, idempotency_key, language)


def render_all_clear(
    facts: AlarmFacts, audience: Audience, idempotency_key: str, language: str, level: int
) -> OutboundMessage:
    """The all-clear for one recipient the alarm's message was sent to.

    ``level`` is the alarm's level when that message was planned, not the stored one: a
    duress cancel raises the alarm to 3, and staff must read exactly what a normal
    withdrawal of the alarm they were told sends them (the same words as a resolve: they
    never learn it was withdrawn, let alone under duress). Level-3 staff are not told the
    room here either. Security and the emergency manager are told a withdrawal as the
    console shows it ("zurückgenommen – bitte nachfassen"), else the end.
    """
    t = CATALOGUE.text
    lang = CATALOGUE.language(language)
    level_name = t(f"level_{level}", lang)
    staff = audience is Audience.STAFF
    room = None if (staff and level >= int(AlarmLevel.DANGER)) else facts.room
    ending = "withdrawn" if facts.withdrawn and not staff else "all_clear"
    if room is not None:
        subject = t(
            f"{ending}_subject_room", lang, level=level, level_name=level_name, room=room.number
        )
        lines = [t(f"{ending}_room", lang, room=room.number)]
    else:
        subject = t(
            f"{ending}_subject_site", lang, level=level, level_name=level_name, site=facts.site
        )
        lines = [t(f"{ending}_site", lang, site=facts.site, workstation=facts.workstation_id)]
    return _message(
        facts, idempotency_key, level, audience, room, subject, lines, lang, MessageKind.ALL_CLEAR
    )


def _message(
    facts: AlarmFacts,
    idempotency_key: str,
    level: int,
    audience: Audience,
    room: RoomRef | None,
    subject: str,
    lines: list[str],
    lang: str,
    kind: MessageKind = MessageKind.ALARM,
) -> OutboundMessage:
    """What every alarm and all-clear message ends with: a drill's mark, the site, the time."""
    t = CATALOGUE.text
    if facts.drill:
        subject = f"{t('drill', lang)}: {subject}"
        lines.insert(0, t("drill", lang))
    lines.append(t("site", lang, site=facts.site))
    lines.append(t("stored_at", lang, time=facts.stored_at.strftime("%Y-%m-%d %H:%M:%S")))
    return OutboundMessage(
        alarm_id=str(facts.alarm_id),
        idempotency_key=idempotency_key,
        level=level,
        audience=audience,
        site=facts.site,
        room=room.number if room is not None else None,
        subject=subject,
        body="\n".join(lines),
        language=lang,
        kind=kind,
    )


def probe_message(idempotency_key: str, label: str, language: str = "de") -> OutboundMessage:
    """The admin page's "Testnachricht senden": says plainly that there is no alarm."""
    lang = CATALOGUE.language(language)
    return OutboundMessage(
        alarm_id="",
        idempotency_key=idempotency_key,
        level=0,
        audience=Audience.SECURITY,
        site="",
        room=None,
        subject=CATALOGUE.text("test_subject", lang),
        body=CATALOGUE.text("test_body", lang, label=label or "?"),
        language=lang,
        kind=MessageKind.TEST,
    )
