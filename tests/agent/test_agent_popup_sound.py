"""Popups sound until answered: the level-1/2 tone, the level-3 tone, silence when all are done."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from agent.popup import PopupManager
from agent.popup_groups import group_key
from agent.sound import AlarmSound, write_tones
from shared.domain import AlarmLevel, Instruction
from shared.protocol import AlarmNotify, RoomRef, utc_now
from tests.support.players import RecordingPlayer


def notify(level: AlarmLevel, instruction: Instruction) -> AlarmNotify:
    return AlarmNotify(
        alarm_id=uuid.uuid4(),
        level=level,
        instruction=instruction,
        room=RoomRef(number="1.02", name="Leistung", floor="1. OG"),
        raiser="Erika Mustermann",
        raised_at=utc_now(),
    )


def sounding(sound: AlarmSound) -> AlarmLevel | None:
    """The level sounding now; read through a call, so mypy keeps no earlier assert's narrowing."""
    return sound.level


@pytest.fixture
def setup(
    qtbot: QtBot, tmp_path: Path
) -> Iterator[tuple[PopupManager, AlarmSound, RecordingPlayer]]:
    player = RecordingPlayer()
    sound = AlarmSound(player, write_tones(tmp_path), interval=0.05)
    popups = PopupManager(
        language="de", send_receipt=lambda _: None, send_answer=lambda *_: None, sound=sound
    )
    yield popups, sound, player
    popups.close_all()
    sound.close()


def test_tone_follows_the_highest_open_popup_until_all_are_answered(
    qtbot: QtBot, setup: tuple[PopupManager, AlarmSound, RecordingPlayer]
) -> None:
    popups, sound, player = setup
    threat = notify(AlarmLevel.THREAT, Instruction.COME_HELP)
    popups.show(threat)
    assert [player.next_tone(), player.next_tone()] == ["alarm", "alarm"]  # it repeats
    danger = notify(AlarmLevel.DANGER, Instruction.STAY_AWAY)
    popups.show(danger)
    assert sound.level is AlarmLevel.DANGER
    qtbot.waitUntil(lambda: player.next_tone() == "danger", timeout=5000)

    popups._answered(group_key(danger), None)  # "Verstanden": back to the open level-2 popup
    assert sounding(sound) is AlarmLevel.THREAT
    popups._answered(group_key(threat), None)
    assert sound.level is None  # silence once every popup is answered


def test_ich_komme_silences_the_popup_that_stays_for_bin_da(
    qtbot: QtBot, setup: tuple[PopupManager, AlarmSound, RecordingPlayer]
) -> None:
    popups, sound, _ = setup
    threat = notify(AlarmLevel.THREAT, Instruction.COME_HELP)
    popups.show(threat)
    assert sound.level is AlarmLevel.THREAT
    popup = popups.popups[threat.alarm_id]
    qtbot.mouseClick(popup.buttons["Ich komme"], Qt.MouseButton.LeftButton)
    assert threat.alarm_id in popups.popups  # still on screen, with "Bin da"
    assert sound.level is None
