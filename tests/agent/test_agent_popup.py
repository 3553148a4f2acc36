"""Popup content per level, the popup manager's dedupe and answers, tray texts and icons."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from agent.feedback import Reason, Status, View
from agent.i18n import message_ids
from agent.icons import draw_icon
from agent.popup import AlarmPopup, PopupManager
from agent.tray import tooltip
from shared.domain import AlarmLevel, AlarmState, Answer, Instruction
from shared.protocol import AlarmNotify, AlarmUpdate, Responder, RoomRef, utc_now

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ROOM = RoomRef(number="101", name="Leistungsabteilung", floor="1. OG")
COMING = Responder(name="Bernd Beispiel", room="102", answer=Answer.COMING)


def notify(
    level: AlarmLevel,
    instruction: Instruction = Instruction.COME_HELP,
    room: RoomRef | None = ROOM,
    responders: list[Responder] | None = None,
) -> AlarmNotify:
    return AlarmNotify(
        alarm_id=uuid.uuid4(),
        level=level,
        instruction=instruction,
        room=room,
        raiser="Erika Mustermann",
        raised_at=utc_now(),
        responders=responders or [],
    )


CASES = [
    (notify(AlarmLevel.SUPPORT), "Stiller Alarm – Raum 101", "Unterstützung"),
    (notify(AlarmLevel.THREAT, responders=[COMING]), "Stiller Alarm – Raum 101", "Bedrohung"),
    (
        notify(AlarmLevel.DANGER, Instruction.STAY_AWAY, room=None),
        "Stiller Alarm – Gefahr / Amok",
        "Gefahr / Amok",
    ),
]


def visible_buttons(popup: AlarmPopup) -> set[str]:
    return {name for name, button in popup.buttons.items() if not button.isHidden()}


def make_popup(qtbot: QtBot, message: AlarmNotify, language: str = "de") -> AlarmPopup:
    popup = AlarmPopup(
        message,
        language=language,  # type: ignore[arg-type]
        on_answer=lambda *_: None,
        on_shown=lambda _: None,
    )
    qtbot.addWidget(popup)
    return popup


@pytest.mark.parametrize(("message", "title", "level_text"), CASES)
def test_popup_per_level(qtbot: QtBot, message: AlarmNotify, title: str, level_text: str) -> None:
    popup = make_popup(qtbot, message)
    popup.present()
    qtbot.waitExposed(popup)
    assert popup.windowTitle() == title
    assert popup.windowFlags() & Qt.WindowType.WindowStaysOnTopHint
    assert popup.level_label.text() == level_text
    labels = " | ".join(label.text() for label in popup.findChildren(type(popup.level_label)))
    assert "Erika Mustermann" in labels
    if message.instruction is Instruction.STAY_AWAY:
        assert set(popup.buttons) == {"Verstanden"}
        assert "NICHT in den Bereich gehen – Tür abschließen, Abstand halten" in labels
        assert "Raum" not in labels
    else:
        assert visible_buttons(popup) == {"Ich komme", "Kann nicht"}
        assert popup.buttons["Ich komme"].text() == "&Ich komme"  # Alt+I
        assert popup.buttons["Kann nicht"].text() == "&Kann nicht"  # Alt+K
        assert "Raum 101 – Leistungsabteilung" in labels
        assert "1. OG" in labels
    if message.responders:
        assert "Bernd Beispiel" in popup.responders_label.text()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"popup-level-{int(message.level)}.png"
    assert popup.grab().save(str(shot))
    assert shot.stat().st_size > 2000


def test_english_popup(qtbot: QtBot) -> None:
    popup = make_popup(qtbot, notify(AlarmLevel.THREAT), language="en")
    assert popup.windowTitle() == "Stiller Alarm – room 101"
    assert visible_buttons(popup) == {"I'm coming", "Can't"}


def test_security_gets_a_level_3_popup_with_room_and_buttons(qtbot: QtBot) -> None:
    popup = make_popup(qtbot, notify(AlarmLevel.DANGER, Instruction.SECURE_AND_CALL_POLICE))
    assert popup.windowTitle() == "Stiller Alarm – Raum 101"
    assert "Ich komme" in popup.buttons  # the instruction, not the level, decides
    assert "Polizei" in popup.instruction_label.text()


def test_every_instruction_has_a_text() -> None:
    from agent.i18n import text

    for instruction in Instruction:
        for language in ("de", "en"):
            assert text(f"popup.{instruction.value}", language)


class Wire:
    def __init__(self) -> None:
        self.receipts: list[uuid.UUID] = []
        self.answers: list[tuple[uuid.UUID, Answer]] = []


@pytest.fixture
def manager(qtbot: QtBot) -> Iterator[tuple[PopupManager, Wire]]:
    wire = Wire()
    popups = PopupManager(
        language="de",
        send_receipt=wire.receipts.append,
        send_answer=lambda alarm_id, answer: wire.answers.append((alarm_id, answer)),
    )
    yield popups, wire
    popups.close_all()


def test_receipt_after_shown_and_dedupe_by_alarm_id(
    qtbot: QtBot, manager: tuple[PopupManager, Wire]
) -> None:
    popups, wire = manager
    message = notify(AlarmLevel.THREAT)
    popups.show(message)
    qtbot.waitUntil(lambda: wire.receipts == [message.alarm_id], timeout=2000)
    popups.show(message)  # the hub re-sends on reconnect
    assert len(popups.popups) == 1
    assert wire.receipts == [message.alarm_id] * 2


def test_answer_click_sends_and_closes(qtbot: QtBot, manager: tuple[PopupManager, Wire]) -> None:
    popups, wire = manager
    message = notify(AlarmLevel.SUPPORT)
    popups.show(message)
    popup = popups.popups[message.alarm_id]
    qtbot.mouseClick(popup.buttons["Kann nicht"], Qt.MouseButton.LeftButton)
    assert wire.answers == [(message.alarm_id, Answer.CANNOT)]
    assert not popup.isVisible()
    popups.show(message)  # a later re-send does not pop it up again
    assert message.alarm_id not in popups.popups
    assert wire.receipts[-1] == message.alarm_id


def test_stay_away_acknowledge_sends_no_answer(
    qtbot: QtBot, manager: tuple[PopupManager, Wire]
) -> None:
    popups, wire = manager
    message = notify(AlarmLevel.DANGER, Instruction.STAY_AWAY, room=None)
    popups.show(message)
    qtbot.mouseClick(
        popups.popups[message.alarm_id].buttons["Verstanden"], Qt.MouseButton.LeftButton
    )
    assert wire.answers == []
    assert popups.popups == {}


def test_updates_change_responders_and_resolve_closes(
    qtbot: QtBot, manager: tuple[PopupManager, Wire]
) -> None:
    popups, _ = manager
    message = notify(AlarmLevel.THREAT)
    popups.show(message)
    popup = popups.popups[message.alarm_id]
    assert "Noch niemand" in popup.responders_label.text()
    update = AlarmUpdate(alarm_id=message.alarm_id, state=AlarmState.ACTIVE, responders=[COMING])
    assert popups.update(update)
    assert "Bernd Beispiel" in popup.responders_label.text()
    resolved = AlarmUpdate(alarm_id=message.alarm_id, state=AlarmState.RESOLVED, responders=[])
    assert popups.update(resolved)
    assert not popup.isVisible()
    all_clear = popups.all_clear[message.alarm_id]
    assert all_clear.isVisible()
    assert all_clear.windowTitle() == "Stiller Alarm – Entwarnung"
    assert "Raum 101" in all_clear.message_label.text()
    assert not popups.update(
        AlarmUpdate(alarm_id=uuid.uuid4(), state=AlarmState.ACTIVE, responders=[])
    )


def test_a_cancelled_alarm_closes_its_popup_and_says_so(
    qtbot: QtBot, manager: tuple[PopupManager, Wire]
) -> None:
    popups, _ = manager
    message = notify(AlarmLevel.SUPPORT)
    popups.show(message)
    popup = popups.popups[message.alarm_id]
    cancelled = AlarmUpdate(alarm_id=message.alarm_id, state=AlarmState.CANCELLED, responders=[])
    assert popups.update(cancelled)
    assert not popup.isVisible()
    assert popups.popups == {}
    notice = popups.all_clear[message.alarm_id].message_label.text()
    # The room is named (security follows up on it), and nobody is told they are "not needed".
    assert notice.startswith("Der Alarm aus Raum 101 – Leistungsabteilung wurde zurückgenommen.")
    assert "nicht mehr gebraucht" not in notice


def test_level_three_all_clear_reaches_those_who_dismissed_the_warning(
    qtbot: QtBot, manager: tuple[PopupManager, Wire]
) -> None:
    popups, _ = manager
    message = notify(AlarmLevel.DANGER, Instruction.STAY_AWAY, room=None)
    popups.show(message)
    qtbot.mouseClick(
        popups.popups[message.alarm_id].buttons["Verstanden"], Qt.MouseButton.LeftButton
    )
    assert popups.popups == {}

    withdrawn = AlarmUpdate(alarm_id=message.alarm_id, state=AlarmState.CANCELLED, responders=[])
    assert popups.update(withdrawn)
    # A withdrawn level-3 alarm may have been withdrawn under pressure: stay locked in.
    assert "bis der Sicherheitsdienst Entwarnung gibt" in (
        popups.all_clear[message.alarm_id].message_label.text()
    )
    resolved = AlarmUpdate(alarm_id=message.alarm_id, state=AlarmState.RESOLVED, responders=[])
    assert popups.update(resolved)
    all_clear = popups.all_clear[message.alarm_id]
    assert all_clear.isVisible()
    assert "Tür wieder öffnen" in all_clear.message_label.text()
    all_clear.grab().save(str(ARTIFACTS / "popup-all-clear.png"))


def test_tray_tooltips() -> None:
    assert tooltip(View(Status.IDLE, connected=True), "de") == "Stiller Alarm – bereit"
    assert "nicht geschützt" in tooltip(View(Status.IDLE, connected=False), "de")
    assert tooltip(View(Status.COMING, True, coming=2), "de").endswith("(2)")
    not_delivered = tooltip(View(Status.NOT_DELIVERED, connected=False), "de")
    assert "bitte telefonisch Hilfe holen" in not_delivered
    assert "nicht geschützt" in not_delivered
    assert tooltip(View(Status.STORED, True), "en") == "Silent alarm – received"


def test_icons_differ_by_state(qapp: object) -> None:
    images = {
        (status, connected): draw_icon(View(status, connected), 32).toImage()
        for status in Status
        for connected in (True, False)
    }
    assert images[(Status.IDLE, True)] != images[(Status.IDLE, False)]
    assert images[(Status.IDLE, True)] != images[(Status.STORED, True)]
    assert images[(Status.STORED, True)] != images[(Status.NOT_DELIVERED, True)]
    # Connected but e.g. the hotkey is dead: the stroke says "not protected" too.
    unprotected = View(Status.IDLE, True, reasons=frozenset({Reason.HOTKEY_UNAVAILABLE}))
    assert draw_icon(unprotected, 32).toImage() != images[(Status.IDLE, True)]
    # The open cancel window puts a ring on the icon.
    stored = View(Status.STORED, True)
    assert draw_icon(stored, 32, withdrawable=True).toImage() != images[(Status.STORED, True)]


def test_every_text_has_both_languages() -> None:
    from agent.i18n import text

    for message_id in message_ids():
        for language in ("de", "en"):
            assert text(
                message_id,
                language,
                room="1",
                level="x",
                number="1",
                name="n",
                floor="f",
                raiser="r",
                names="a",
                count=1,
                rest="r",
                building="b",
                entrance="e",
                phone="p",
                reason="g",
                hotkey="Strg+Alt+P",
                time="t",  # the raiser's notice (issue 13)
                state="s",
                told=1,  # neighbours told directly (issue 16)
                asked=2,
                title="t",  # a popup for several alarms (issue 15)
                path="/etc/silent-alarm/agent.toml",  # a config it cannot read (issue 18)
            )


def test_a_resolved_alarm_is_forgotten_after_its_all_clear(
    qtbot: QtBot, manager: tuple[PopupManager, Wire]
) -> None:
    popups, _ = manager
    message = notify(AlarmLevel.THREAT)
    popups.show(message)
    resolved = AlarmUpdate(alarm_id=message.alarm_id, state=AlarmState.RESOLVED, responders=[])
    popups.update(resolved)
    first = popups.all_clear[message.alarm_id]
    popups.update(resolved)  # a repeated update opens no second all-clear
    assert popups.all_clear[message.alarm_id] is first
    assert popups.groups.groups == {}  # nothing of it is kept


FULL_ROOM = RoomRef(
    number="1.01",
    name="Beratung 1",
    floor="1. OG",
    building="Haus A",
    entrance="Eingang A / Treppenhaus 1",
    phone="0521 123-101",
)


@pytest.mark.parametrize(
    ("level", "instruction"),
    [
        (AlarmLevel.SUPPORT, Instruction.COME_HELP),
        (AlarmLevel.THREAT, Instruction.COME_HELP),
        (AlarmLevel.DANGER, Instruction.SECURE_AND_CALL_POLICE),
    ],
)
def test_popups_with_location_name_building_floor_entrance_and_phone(
    qtbot: QtBot, level: AlarmLevel, instruction: Instruction
) -> None:
    popup = make_popup(qtbot, notify(level, instruction, room=FULL_ROOM))
    where = [label.text() for label in popup.where_labels]
    assert where == [
        "Raum 1.01 – Beratung 1",
        "Haus A · Etage: 1. OG",
        "Nächster Eingang: Eingang A / Treppenhaus 1",
        "Telefon im Raum: 0521 123-101",
    ]
    # What the agent logs is what the popup shows, without the raiser's name.
    assert popup.shown_lines[1:5] == where
    assert not any("Erika" in line for line in popup.shown_lines)
    ARTIFACTS.mkdir(exist_ok=True)
    popup.present()
    qtbot.waitExposed(popup)
    assert_no_line_cut_off(popup)
    assert popup.grab().save(str(ARTIFACTS / f"popup-location-level-{int(level)}.png"))


def assert_no_line_cut_off(popup: AlarmPopup) -> None:
    """Every wrapped label gets the height its text needs (a size hint ignores word wrap)."""
    for label in popup.findChildren(type(popup.level_label)):
        if label.isVisible():
            assert label.height() >= label.heightForWidth(label.width()), label.text()


def test_a_room_without_entrance_or_phone_shows_no_empty_lines(qtbot: QtBot) -> None:
    popup = make_popup(qtbot, notify(AlarmLevel.SUPPORT, room=ROOM))
    assert [label.text() for label in popup.where_labels] == [
        "Raum 101 – Leistungsabteilung",
        "Etage: 1. OG",
    ]


def test_level_three_staff_popup_says_nothing_about_place_or_raiser(qtbot: QtBot) -> None:
    # As the hub sends it: no room, no raiser (dispatch/alarms/views.py notify).
    message = notify(AlarmLevel.DANGER, Instruction.STAY_AWAY, room=None).model_copy(
        update={"raiser": None}
    )
    popup = make_popup(qtbot, message)
    labels = " | ".join(label.text() for label in popup.findChildren(type(popup.level_label)))
    assert popup.raiser_label is None
    assert popup.where_labels == []
    for absent in ("Ausgelöst", "unbekannt", "Raum", "Etage", "Eingang", "Telefon"):
        assert absent not in labels


def test_coming_keeps_a_silent_popup_with_bin_da_which_sends_arrived(
    qtbot: QtBot, manager: tuple[PopupManager, Wire]
) -> None:
    popups, wire = manager
    message = notify(AlarmLevel.THREAT, room=FULL_ROOM)
    popups.show(message)
    popup = popups.popups[message.alarm_id]
    assert popup.buttons["Bin da"].isHidden()  # not before "Ich komme"
    qtbot.mouseClick(popup.buttons["Ich komme"], Qt.MouseButton.LeftButton)
    assert wire.answers == [(message.alarm_id, Answer.COMING)]
    assert popup.isVisible()
    assert visible_buttons(popup) == {"Bin da"}
    assert "sobald Sie im Raum sind" in popup.instruction_label.text()
    qtbot.waitUntil(lambda: popup.instruction_label.height() > 0)
    assert_no_line_cut_off(popup)
    assert popup.on_the_way
    assert not popup.finished
    popup.grab().save(str(ARTIFACTS / "popup-on-the-way.png"))

    qtbot.mouseClick(popup.buttons["Bin da"], Qt.MouseButton.LeftButton)
    assert wire.answers == [(message.alarm_id, Answer.COMING), (message.alarm_id, Answer.ARRIVED)]
    assert not popup.isVisible()
    assert popups.popups == {}


def test_closing_the_popup_on_the_way_sends_nothing_more(
    qtbot: QtBot, manager: tuple[PopupManager, Wire]
) -> None:
    popups, wire = manager
    message = notify(AlarmLevel.SUPPORT)
    popups.show(message)
    popup = popups.popups[message.alarm_id]
    qtbot.mouseClick(popup.buttons["Ich komme"], Qt.MouseButton.LeftButton)
    popup.close()
    assert wire.answers == [(message.alarm_id, Answer.COMING)]
    assert popups.popups == {}


def test_a_popup_from_a_neighbours_agent_is_marked_until_the_hub_sends_the_same_alarm(
    qtbot: QtBot, manager: tuple[PopupManager, Wire]
) -> None:
    popups, wire = manager
    message = notify(AlarmLevel.THREAT)
    popups.show(message, no_hub=True)  # issue 16: sent directly, no hub
    popup = popups.popups[message.alarm_id]
    assert not popup.no_hub_label.isHidden()
    assert popup.no_hub_label.text() == "Zentrale nicht erreichbar"
    assert popup.shown_lines[0] == "Zentrale nicht erreichbar"
    popups.show(message)  # the hub is back and sends it: the same popup, mark gone
    assert list(popups.popups) == [message.alarm_id]
    assert popups.popups[message.alarm_id] is popup
    assert popup.no_hub_label.isHidden()
    qtbot.waitUntil(lambda: message.alarm_id in wire.receipts, timeout=2000)


def test_a_popup_from_the_hub_carries_no_mark(
    qtbot: QtBot, manager: tuple[PopupManager, Wire]
) -> None:
    popups, _ = manager
    message = notify(AlarmLevel.THREAT)
    popups.show(message)
    popup = popups.popups[message.alarm_id]
    assert popup.no_hub_label.isHidden()
    assert "Zentrale nicht erreichbar" not in popup.shown_lines


def test_a_flood_from_one_raiser_is_one_popup_that_counts_and_answers_each(
    qtbot: QtBot, manager: tuple[PopupManager, Wire]
) -> None:
    popups, wire = manager
    flood = [notify(AlarmLevel.SUPPORT, room=FULL_ROOM) for _ in range(50)]
    for message in flood:
        popups.show(message)
    ids = [message.alarm_id for message in flood]
    qtbot.waitUntil(lambda: sorted(wire.receipts) == sorted(ids), timeout=2000)  # each
    (popup,) = set(popups.popups.values())
    assert popups.popups.keys() == set(ids)
    assert popup.windowTitle() == "Stiller Alarm – Raum 1.01 (50 Alarme)"
    assert popup.count_label.text() == "50 Alarme aus Raum 1.01"
    # Another raiser's alarm is not swallowed: a popup of its own.
    other = notify(AlarmLevel.SUPPORT, room=ROOM)
    popups.show(other)
    assert popups.popups[other.alarm_id] is not popup
    # A level 3 of the same raiser: the popup shows level 3 and security's instruction.
    danger = notify(AlarmLevel.DANGER, Instruction.SECURE_AND_CALL_POLICE, room=FULL_ROOM)
    popups.show(danger)
    assert popups.popups[danger.alarm_id] is popup
    assert popup.level_label.text() == "Gefahr / Amok"
    assert "Polizei" in popup.instruction_label.text()
    assert popup.windowTitle() == "Stiller Alarm – Raum 1.01 (51 Alarme)"
    qtbot.waitExposed(popup)
    assert_no_line_cut_off(popup)
    popup.grab().save(str(ARTIFACTS / "popup-flood.png"))

    qtbot.mouseClick(popup.buttons["Ich komme"], Qt.MouseButton.LeftButton)
    assert wire.answers == [(i, Answer.COMING) for i in [*ids, danger.alarm_id]]
    assert visible_buttons(popup) == {"Bin da"}
    qtbot.mouseClick(popup.buttons["Bin da"], Qt.MouseButton.LeftButton)
    assert wire.answers[51:] == [(i, Answer.ARRIVED) for i in [*ids, danger.alarm_id]]
    assert not popup.isVisible()
    assert set(popups.popups) == {other.alarm_id}


def test_resolved_alarms_leave_the_popup_and_the_last_brings_one_all_clear(
    qtbot: QtBot, manager: tuple[PopupManager, Wire]
) -> None:
    popups, _ = manager
    flood = [notify(AlarmLevel.THREAT) for _ in range(3)]
    for message in flood:
        popups.show(message)
    popup = popups.popups[flood[0].alarm_id]
    for message in flood[:2]:
        popups.update(
            AlarmUpdate(alarm_id=message.alarm_id, state=AlarmState.RESOLVED, responders=[])
        )
    assert popup.isVisible()
    assert popup.windowTitle() == "Stiller Alarm – Raum 101"  # one left: no count
    assert popup.count_label.isHidden()
    assert popups.all_clear == {}
    last = AlarmUpdate(alarm_id=flood[2].alarm_id, state=AlarmState.RESOLVED, responders=[])
    popups.update(last)
    assert not popup.isVisible()
    assert list(popups.all_clear) == [flood[2].alarm_id]  # one all-clear, not three
