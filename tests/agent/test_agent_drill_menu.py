"""The tray's "Übungsalarm auslösen": menu place, config switch, and the outcome window (offscreen).

The same entry against the real hub on Xvfb: tests/agent/test_agent_drill_x11.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from agent.app import AgentApp
from agent.config import AgentConfig, Layer, merge_layers
from agent.drill import DrillControl
from agent.feedback import Status
from agent.tray import Tray
from shared.domain import AlarmKind, AlarmLevel, Trigger
from shared.protocol import AlarmStored, RaiseAlarm, utc_now

SENDING = "ÜBUNG – Übungsalarm wird gesendet …"
STORED = "ÜBUNG – Übungsalarm angekommen. Kein Ernstfall."
LATE = "ÜBUNG – Übungsalarm noch nicht angekommen, wird weiter gesendet"
REFUSED = "Keine Übung geplant – Übungsalarm nicht gesendet"


def menu_entries(tray: Tray) -> list[str]:
    """Visible entries, a separator as "---"."""
    return ["---" if a.isSeparator() else a.text() for a in tray.menu.actions() if a.isVisible()]


def test_the_drill_entry_is_last_and_set_apart(qtbot: QtBot) -> None:
    drills: list[int] = []
    tray = Tray(
        language="de",
        hotkey_level=AlarmLevel.THREAT,
        on_raise=lambda level, trigger: None,
        on_quit=lambda: None,
        allow_quit=True,
        on_drill=lambda: drills.append(1),
    )
    assert menu_entries(tray) == [
        "Gefahr / Amok (Stufe 3) auslösen",
        "---",
        "---",
        "Beenden",
        "---",
        "Übungsalarm auslösen",
    ]
    assert tray.drill_action is not None
    tray.drill_action.trigger()
    assert drills == [1]


def test_english_entry(qtbot: QtBot) -> None:
    tray = Tray(
        language="en",
        hotkey_level=AlarmLevel.THREAT,
        on_raise=lambda level, trigger: None,
        on_quit=lambda: None,
        on_drill=lambda: None,
    )
    assert menu_entries(tray)[-1] == "Raise drill alarm"


class Raised:
    def __init__(self) -> None:
        self.alarms: list[RaiseAlarm] = []

    def __call__(self, level: AlarmLevel, kind: AlarmKind) -> RaiseAlarm:
        alarm = RaiseAlarm(
            alarm_id=uuid.uuid4(),
            level=level,
            trigger=Trigger.TRAY,
            raised_at=utc_now(),
            kind=kind,
        )
        self.alarms.append(alarm)
        return alarm


def window_text(control: DrillControl) -> str:
    assert control.window is not None
    assert control.window.isVisible()
    return control.window.label.text()


def stored(alarm: RaiseAlarm) -> AlarmStored:
    return AlarmStored(alarm_id=alarm.alarm_id, stored_at=utc_now())


def test_a_drill_is_level_2_of_kind_drill_and_its_window_follows_the_outcome(
    qtbot: QtBot,
) -> None:
    raised = Raised()
    control = DrillControl(language="de", raise_alarm=raised)
    assert control.window is None  # nothing built until someone drills
    control.raise_drill()
    assert [(a.level, a.kind) for a in raised.alarms] == [(AlarmLevel.THREAT, AlarmKind.DRILL)]
    assert control.window is not None
    qtbot.addWidget(control.window)
    assert control.window.windowTitle() == "Stiller Alarm – Übungsalarm"
    assert window_text(control) == SENDING
    control.stored(AlarmStored(alarm_id=uuid.uuid4(), stored_at=utc_now()))  # someone else's
    assert window_text(control) == SENDING
    control.stored(stored(raised.alarms[0]))
    assert window_text(control) == STORED


def test_a_refused_drill_says_so(qtbot: QtBot) -> None:
    raised = Raised()
    control = DrillControl(language="de", raise_alarm=raised)
    control.raise_drill()
    assert control.window is not None
    qtbot.addWidget(control.window)
    control.refused(raised.alarms[0])
    assert window_text(control) == REFUSED


def test_a_late_drill_says_it_is_still_being_sent_then_its_outcome(qtbot: QtBot) -> None:
    raised = Raised()
    control = DrillControl(language="en", raise_alarm=raised, deadline=0.05)
    control.raise_drill()
    assert control.window is not None
    qtbot.addWidget(control.window)
    qtbot.waitUntil(
        lambda: window_text(control) == "DRILL – drill alarm not received yet, still sending",
        timeout=2000,
    )
    control.refused(raised.alarms[0])
    assert window_text(control) == "No drill scheduled – drill alarm not sent"


def test_a_stored_drill_is_not_reported_late(qtbot: QtBot) -> None:
    raised = Raised()
    control = DrillControl(language="de", raise_alarm=raised, deadline=0.05)
    control.raise_drill()
    assert control.window is not None
    qtbot.addWidget(control.window)
    control.stored(stored(raised.alarms[0]))
    qtbot.wait(200)  # the deadline timer has fired meanwhile
    assert window_text(control) == STORED


def agent_config(tmp_path: Path, policy: dict[str, object] | None = None) -> AgentConfig:
    user = {
        "hub_urls": ["ws://127.0.0.1:9/ws/agent"],  # never connected: the link is not started
        "workstation_id": "pc-1-01",
        "token": "t",
        "sound": False,
        "data_dir": str(tmp_path / "data"),
        "log_dir": str(tmp_path / "log"),
    }
    layers = [Layer("user.toml", user)]
    if policy is not None:
        layers.append(Layer("policy.toml", policy, policy=True))
    return merge_layers(layers)


@pytest.fixture
def make_app(qtbot: QtBot) -> Iterator[list[AgentApp]]:
    apps: list[AgentApp] = []
    yield apps
    for app in apps:
        app.shutdown()
        if app.drill.window is not None:
            app.drill.window.close()


def test_a_policy_can_hide_the_entry(tmp_path: Path, make_app: list[AgentApp]) -> None:
    config = agent_config(tmp_path, policy={"drill_menu": False})
    assert config.is_locked("drill_menu")
    make_app.append(app := AgentApp(config))
    assert app.tray.drill_action is None
    assert "Übungsalarm auslösen" not in menu_entries(app.tray)


def test_the_agent_puts_the_drill_in_its_outbox_and_leaves_the_tray_status_alone(
    tmp_path: Path, make_app: list[AgentApp], qtbot: QtBot
) -> None:
    make_app.append(app := AgentApp(agent_config(tmp_path)))
    assert app.tray.drill_action is not None  # shown by default
    app.tray.drill_action.trigger()
    [drill] = app.outbox.pending()  # on disk first, like every alarm
    assert (drill.level, drill.trigger, drill.kind) == (
        AlarmLevel.THREAT,
        Trigger.TRAY,
        AlarmKind.DRILL,
    )
    assert app.feedback.view.status is Status.IDLE  # the icon is about real alarms only
    assert window_text(app.drill) == SENDING
    app.link_signals.drill_refused(drill, "no drill")  # what the link reports for no_drill
    assert window_text(app.drill) == REFUSED
    assert app.feedback.view.status is Status.IDLE
