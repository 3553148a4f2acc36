"""RaiseControl without Qt: what it asks of its shell for a press, a countdown and a cancel window.

The same control with the real Qt shell and tray: tests/agent/test_agent_tray.py.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from agent.raise_control import RaiseControl
from shared.domain import AlarmLevel, Trigger
from shared.protocol import AlarmStored, LevelSettings, RaiseAlarm, utc_now


class Shell:
    """Records what the control shows; runs hops at once, after noting the thread they came from."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.hopped_from: list[str] = []
        self.on_cancel: Callable[[], object] | None = None
        self.ticking = False

    def call_on_gui_thread(self, call: Callable[[], None]) -> None:
        self.hopped_from.append(threading.current_thread().name)
        call()

    def show_countdown(self, seconds: int, on_cancel: Callable[[], None]) -> None:
        self.shown.append(f"countdown {seconds}")

    def count_down(self, seconds: int) -> None:
        self.shown.append(f"{seconds} left")

    def hide_countdown(self) -> None:
        self.shown.append("hidden")

    def offer_cancel(self, seconds: int | None, on_cancel: Callable[[], object] | None) -> None:
        self.on_cancel = on_cancel
        if seconds is not None:
            self.shown.append(f"withdraw {seconds}")

    def start_ticking(self, on_tick: Callable[[], None]) -> None:
        self.ticking = True

    def stop_ticking(self) -> None:
        self.ticking = False


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_control() -> tuple[RaiseControl, Shell, list[RaiseAlarm], list[uuid.UUID], Clock]:
    shell, clock = Shell(), Clock()
    raised: list[RaiseAlarm] = []
    cancelled: list[uuid.UUID] = []

    def raise_alarm(level: AlarmLevel, trigger: Trigger) -> RaiseAlarm:
        alarm = RaiseAlarm(alarm_id=uuid.uuid4(), level=level, trigger=trigger, raised_at=utc_now())
        raised.append(alarm)
        return alarm

    control = RaiseControl(
        raise_alarm=raise_alarm,
        send_cancel=lambda alarm_id, duress: cancelled.append(alarm_id),
        shell=shell,
        clock=clock,
    )
    control.set_levels([LevelSettings(level=AlarmLevel.THREAT, countdown_s=3)])
    return control, shell, raised, cancelled, clock


def test_only_a_countdown_hops_to_the_qt_thread() -> None:
    control, shell, raised, _, _ = make_control()
    presses = [
        threading.Thread(target=control.request, args=(level, Trigger.HOTKEY), name=str(level))
        for level in (AlarmLevel.DANGER, AlarmLevel.THREAT)  # level 3 has no countdown
    ]
    for press in presses:
        press.start()
        press.join()
    assert [a.level for a in raised] == [AlarmLevel.DANGER]  # on the hotkey's thread
    assert shell.hopped_from == [str(AlarmLevel.THREAT)]
    assert shell.shown == ["countdown 3"]


def test_the_countdown_counts_down_then_sends_and_stops_ticking() -> None:
    control, shell, raised, _, clock = make_control()
    control.request(AlarmLevel.THREAT, Trigger.TRAY)
    assert shell.ticking
    clock.now += 1.5
    control.tick()
    clock.now += 1.5
    control.tick()
    assert shell.shown == ["countdown 3", "2 left", "hidden"]
    assert [(a.level, a.trigger) for a in raised] == [(AlarmLevel.THREAT, Trigger.TRAY)]
    assert not shell.ticking


def test_a_stored_alarm_of_ours_may_be_withdrawn_through_the_shell() -> None:
    control, shell, raised, cancelled, _ = make_control()
    control.request(AlarmLevel.DANGER, Trigger.HOTKEY)
    alarm_id = raised[0].alarm_id
    control.stored(AlarmStored(alarm_id=alarm_id, stored_at=utc_now(), cancel_window_s=10))
    assert shell.shown == ["withdraw 9"]  # the agent closes its window a second early
    assert shell.ticking
    assert shell.on_cancel is not None
    shell.on_cancel()
    assert cancelled == [alarm_id]
    assert shell.on_cancel is None
    assert not shell.ticking


def duress_control(menu_duress: bool) -> tuple[RaiseControl, Shell, list[tuple[uuid.UUID, bool]]]:
    shell, sent = Shell(), []

    def raise_alarm(level: AlarmLevel, trigger: Trigger) -> RaiseAlarm:
        return RaiseAlarm(alarm_id=uuid.uuid4(), level=level, trigger=trigger, raised_at=utc_now())

    control = RaiseControl(
        raise_alarm=raise_alarm,
        send_cancel=lambda alarm_id, duress: sent.append((alarm_id, duress)),
        shell=shell,
        clock=Clock(),
        menu_duress=menu_duress,
    )
    return control, shell, sent


def test_the_duress_chord_withdraws_the_newest_alarm_in_its_window_like_the_menu() -> None:
    control, shell, sent = duress_control(menu_duress=False)
    control.cancel_newest(duress=True)  # no alarm in a window: nothing at all
    assert sent == []
    ids = []
    for _ in range(2):
        control.request(AlarmLevel.THREAT, Trigger.HOTKEY)
    # The alarms are the control's own: find them through stored() as the link reports.
    own = list(control._own)
    for alarm_id in own:
        control.stored(AlarmStored(alarm_id=alarm_id, stored_at=utc_now(), cancel_window_s=10))
        ids.append(alarm_id)
    control.cancel_newest(duress=True)
    assert sent == [(ids[-1], True)]
    assert shell.hopped_from  # the hotkey's thread hops to the Qt thread first
    # What the shell shows afterwards is what a withdrawal from the menu leaves.
    assert shell.on_cancel is not None
    shell.on_cancel()
    assert sent == [(ids[-1], True), (ids[0], False)]
    assert shell.on_cancel is None


def test_a_policy_makes_the_menu_withdrawal_a_duress_cancel() -> None:
    control, shell, sent = duress_control(menu_duress=True)
    control.request(AlarmLevel.THREAT, Trigger.HOTKEY)
    (alarm_id,) = control._own
    control.stored(AlarmStored(alarm_id=alarm_id, stored_at=utc_now(), cancel_window_s=10))
    assert shell.on_cancel is not None
    shell.on_cancel()
    assert sent == [(alarm_id, True)]
