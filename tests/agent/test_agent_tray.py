"""The tray menu and click modes; RaiseControl's countdown and cancel window (offscreen Qt)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QSystemTrayIcon
from pytestqt.qtbot import QtBot

from agent.countdown_window import CountdownShell
from agent.message_window import MessageWindow
from agent.raise_control import RaiseControl
from agent.status_text import STATUS_TITLE, room_status, status_lines
from agent.tray import Tray
from shared.domain import AlarmLevel, AlarmState, Trigger
from shared.protocol import (
    AlarmStored,
    LevelSettings,
    RaiseAlarm,
    RoomRef,
    WorkstationInfo,
    utc_now,
)

Reason = QSystemTrayIcon.ActivationReason
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


class Raised:
    """Records what would enter the outbox (the link's raise_alarm) and what is withdrawn."""

    def __init__(self) -> None:
        self.alarms: list[RaiseAlarm] = []
        self.cancelled: list[uuid.UUID] = []

    def raise_alarm(self, level: AlarmLevel, trigger: Trigger) -> RaiseAlarm:
        alarm = RaiseAlarm(alarm_id=uuid.uuid4(), level=level, trigger=trigger, raised_at=utc_now())
        self.alarms.append(alarm)
        return alarm

    def levels(self) -> list[tuple[AlarmLevel, Trigger]]:
        return [(a.level, a.trigger) for a in self.alarms]


def make_tray(raised: Raised, **options: object) -> Tray:
    return Tray(
        language="de",
        hotkey_level=AlarmLevel.THREAT,
        on_raise=raised.raise_alarm,
        on_quit=lambda: None,
        **options,  # type: ignore[arg-type]
    )


def visible_texts(tray: Tray) -> list[str]:
    return [a.text() for a in tray.menu.actions() if a.isVisible() and not a.isSeparator()]


def test_default_menu_has_no_quit_and_hides_a_missing_self_test(qtbot: QtBot) -> None:
    tray = make_tray(Raised())
    assert visible_texts(tray) == ["Gefahr / Amok (Stufe 3) auslösen"]


def test_full_menu_and_its_hooks(qtbot: QtBot, tmp_path: Path) -> None:
    raised, tests_run, shown = Raised(), [], []
    tray = make_tray(
        raised,
        allow_quit=True,
        on_self_test=lambda: tests_run.append(1),
        log_dir=tmp_path,
        on_show_status=lambda: shown.append(1),
    )
    assert visible_texts(tray) == [
        "Gefahr / Amok (Stufe 3) auslösen",
        "Selbsttest jetzt",
        "Status und Einstellungen",
        "Protokollordner öffnen",
        "Beenden",
    ]
    tray.level3_action.trigger()
    assert tray.self_test_action is not None
    tray.self_test_action.trigger()
    assert tray.status_action is not None
    tray.status_action.trigger()
    assert raised.levels() == [(AlarmLevel.DANGER, Trigger.TRAY)]
    assert (tests_run, shown) == ([1], [1])


@pytest.mark.parametrize(
    ("mode", "raising", "ignored"),
    [
        ("single", Reason.Trigger, Reason.DoubleClick),
        ("double", Reason.DoubleClick, Reason.Trigger),
    ],
)
def test_click_mode(qtbot: QtBot, mode: str, raising: Reason, ignored: Reason) -> None:
    raised = Raised()
    tray = make_tray(raised, tray_click=mode)
    tray._activated(ignored)
    tray._activated(Reason.Context)  # the right click opens the menu only
    assert raised.alarms == []
    tray._activated(raising)
    assert raised.levels() == [(AlarmLevel.THREAT, Trigger.TRAY)]


class Clock:
    """The monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Control = tuple[RaiseControl, CountdownShell, Raised, Clock]


@pytest.fixture
def control(qtbot: QtBot) -> Iterator[Control]:
    raised, clock = Raised(), Clock()
    shell = CountdownShell("de", make_tray(raised))
    control = RaiseControl(
        raise_alarm=raised.raise_alarm,
        send_cancel=lambda alarm_id, duress: raised.cancelled.append(alarm_id),
        shell=shell,
        clock=clock,
    )
    control.set_levels([LevelSettings(level=AlarmLevel.THREAT, countdown_s=3, cancel_window_s=30)])
    yield control, shell, raised, clock
    shell.window.close()


def test_no_countdown_goes_straight_to_the_outbox(control: Control) -> None:
    ctl, shell, raised, _ = control
    results: list[RaiseAlarm | None] = []
    ctl.request(AlarmLevel.DANGER, Trigger.HOTKEY, results.append)  # level 3: no countdown
    assert raised.levels() == [(AlarmLevel.DANGER, Trigger.HOTKEY)]
    assert results == raised.alarms
    assert not shell.window.isVisible()


def test_countdown_cancelled_sends_nothing(qtbot: QtBot, control: Control) -> None:
    ctl, shell, raised, clock = control
    results: list[RaiseAlarm | None] = []
    ctl.request(AlarmLevel.THREAT, Trigger.HOTKEY, results.append)
    qtbot.waitUntil(shell.window.isVisible, timeout=2000)  # queued to the Qt thread
    assert shell.window.label.text() == "Alarm wird in 3 s gesendet"
    assert shell.window.cancel_button.text() == "Abbrechen"
    clock.now += 1.2
    ctl.tick()
    assert shell.window.label.text() == "Alarm wird in 2 s gesendet"
    shell.window.cancel_button.click()
    assert not shell.window.isVisible()
    assert results == [None]
    clock.now += 10
    ctl.tick()
    assert raised.alarms == []


def test_countdown_runs_out_or_a_second_press_sends_now(qtbot: QtBot, control: Control) -> None:
    ctl, shell, raised, clock = control
    ctl.request(AlarmLevel.THREAT, Trigger.HOTKEY)
    qtbot.waitUntil(shell.window.isVisible, timeout=2000)
    clock.now += 2.9
    ctl.tick()
    assert raised.alarms == []
    clock.now += 0.1
    ctl.tick()
    assert raised.levels() == [(AlarmLevel.THREAT, Trigger.HOTKEY)]
    assert not shell.window.isVisible()

    ctl.request(AlarmLevel.THREAT, Trigger.TRAY)
    qtbot.waitUntil(shell.window.isVisible, timeout=2000)
    ctl.request(AlarmLevel.DANGER, Trigger.HOTKEY)  # pressed again, in a hurry: now, level 3
    qtbot.waitUntil(lambda: len(raised.alarms) == 2, timeout=2000)
    assert raised.levels()[1] == (AlarmLevel.DANGER, Trigger.TRAY)
    assert not shell.window.isVisible()


def stored_of(alarm_id: uuid.UUID, window: int) -> AlarmStored:
    return AlarmStored(alarm_id=alarm_id, stored_at=utc_now(), cancel_window_s=window)


def test_cancel_window_in_the_tray_menu(control: Control) -> None:
    ctl, shell, raised, clock = control
    ctl.request(AlarmLevel.DANGER, Trigger.HOTKEY)
    alarm_id = raised.alarms[0].alarm_id
    tray = shell.tray
    assert not tray.cancel_action.isVisible()
    ctl.stored(stored_of(uuid.uuid4(), 30))  # not raised here (e.g. `trigger`): no entry
    assert not tray.cancel_action.isVisible()
    ctl.stored(stored_of(alarm_id, 15))
    assert tray.cancel_action.isVisible()
    assert tray.cancel_action.text() == "Alarm zurücknehmen (noch 14 s)"
    assert visible_texts(tray)[0] == "Alarm zurücknehmen (noch 14 s)"
    # The tooltip counts down too: the window is visible without opening the menu.
    assert tray.icon.toolTip().startswith("Alarm gesendet – zurücknehmen: noch 14 s")
    clock.now += 10
    ctl.tick()
    assert tray.cancel_action.text() == "Alarm zurücknehmen (noch 4 s)"
    assert tray.icon.toolTip().startswith("Alarm gesendet – zurücknehmen: noch 4 s")
    tray.cancel_action.trigger()
    assert raised.cancelled == [alarm_id]
    assert not tray.cancel_action.isVisible()
    assert "zurücknehmen" not in tray.icon.toolTip()


def test_cancel_window_closes_by_time_and_by_resolve(control: Control) -> None:
    ctl, shell, raised, clock = control
    ctl.request(AlarmLevel.DANGER, Trigger.HOTKEY)
    ctl.request(AlarmLevel.DANGER, Trigger.HOTKEY)
    first, second = (a.alarm_id for a in raised.alarms)
    ctl.stored(stored_of(first, 10))
    clock.now += 9
    ctl.tick()
    assert not shell.tray.cancel_action.isVisible()  # ran out (with the safety second)
    assert not ctl.cancel_alarm(first)
    ctl.stored(stored_of(second, 10))
    ctl.updated(second, AlarmState.RESOLVED)
    assert not shell.tray.cancel_action.isVisible()
    assert raised.cancelled == []


def test_status_lines() -> None:
    status = {
        "workstation_id": "pc-1-01",
        "connected": True,
        "protected": False,
        "hotkeys": ["ctrl+alt+p", "ctrl+alt+shift+p"],
        "locked": ["sound", "hotkey_level"],
    }
    assert status_lines(status, "de") == [
        "Arbeitsplatz: pc-1-01",
        "Verbunden: ja",
        "Geschützt: NEIN",
        "Raum: noch unbekannt (nie verbunden)",  # an agent before the room was reported
        "Tastenkürzel: Strg+Alt+P, Strg+Alt+Umschalt+P",
        "Per Richtlinie festgelegt: hotkey_level, sound",
    ]
    assert status_lines({}, "en")[-1] == "Locked by policy: –"


def test_status_names_the_room_the_hub_reported(qtbot: QtBot) -> None:
    """The welcome's room, then each workstation_update's: as app.status() reports it."""
    info = WorkstationInfo(
        workstation_id="pc-1-03",
        room=RoomRef(number="1.03", name="Beratung 3", floor="1. OG", building="Haus A"),
    )
    status = {
        "workstation_id": "pc-1-03",
        "connected": True,
        "protected": True,
        "hotkeys": ["ctrl+alt+p"],
        "room_known": True,
        "room": room_status(info),
    }
    lines = status_lines(status, "de")
    assert lines[3] == "Raum 1.03 – Beratung 3, 1. OG"
    assert status_lines(status, "en")[3] == "Room 1.03 – Beratung 3, 1. OG"
    unassigned = {
        **status,
        "room": room_status(WorkstationInfo(workstation_id="pc-1-03", room=None)),
    }
    assert status_lines(unassigned, "de")[3] == "Raum: kein Raum zugeordnet"
    assert status_lines(unassigned, "en")[3] == "Room: none assigned"

    window = MessageWindow(STATUS_TITLE, "de", selectable=True)
    qtbot.addWidget(window)
    window.present("\n".join(lines))
    assert "Raum 1.03 – Beratung 3, 1. OG" in window.label.text()
    ARTIFACTS.mkdir(exist_ok=True)
    assert window.grab().save(str(ARTIFACTS / "agent-status-room.png"))
