"""Drill popups say "ÜBUNG" in the title and the body; real alarms never do (offscreen Qt)."""

from __future__ import annotations

import uuid

from pytestqt.qtbot import QtBot

from agent.popup import AlarmPopup, popup_title
from shared.domain import AlarmKind, AlarmLevel, Instruction
from shared.protocol import AlarmNotify, RoomRef, utc_now

ROOM = RoomRef(number="101", name="Leistungsabteilung", floor="1. OG")


def notify(kind: AlarmKind, room: RoomRef | None = ROOM) -> AlarmNotify:
    return AlarmNotify(
        alarm_id=uuid.uuid4(),
        level=AlarmLevel.THREAT,
        kind=kind,
        instruction=Instruction.COME_HELP,
        room=room,
        raiser="Erika Mustermann",
        raised_at=utc_now(),
    )


def test_drill_title_and_body_say_uebung(qtbot: QtBot) -> None:
    drill = notify(AlarmKind.DRILL)
    assert popup_title(drill, "de") == "Stiller Alarm – ÜBUNG – Raum 101"
    assert popup_title(drill, "en") == "Stiller Alarm – DRILL – room 101"
    assert popup_title(notify(AlarmKind.DRILL, room=None), "de") == (
        "Stiller Alarm – ÜBUNG – Bedrohung"
    )
    popup = AlarmPopup(drill, language="de", on_answer=lambda *_: None, on_shown=lambda _: None)
    qtbot.addWidget(popup)
    assert popup.windowTitle().startswith("Stiller Alarm – ÜBUNG")
    assert popup.drill_label is not None
    assert popup.drill_label.text() == "ÜBUNG – kein Ernstfall"
    assert popup.drill_label.font().bold()


def test_a_real_alarm_never_says_uebung(qtbot: QtBot) -> None:
    real = notify(AlarmKind.ALARM)
    assert popup_title(real, "de") == "Stiller Alarm – Raum 101"
    popup = AlarmPopup(real, language="de", on_answer=lambda *_: None, on_shown=lambda _: None)
    qtbot.addWidget(popup)
    assert popup.drill_label is None
    assert "ÜBUNG" not in popup.windowTitle()
