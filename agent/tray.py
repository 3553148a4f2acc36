"""The raiser's discreet controls: tray icon and menu, the countdown window, the cancel entry.

Icon and tooltip are the raiser's quiet feedback (with the notice window of
agent/notice.py, which says in words what the hub confirmed). A click (or double-click, by
config) raises the hotkey level; the menu offers level 3, "Selbsttest jetzt",
the log folder, a read-only status window, only if ``allow_quit`` quitting and,
set apart at the bottom unless the config hides it, "Übungsalarm auslösen".
``RaiseControl`` puts the site's countdown and cancel window (agent/countdown.py)
between a press and the outbox.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import (
    QLabel,
    QMenu,
    QPushButton,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from agent.chord import display_chord
from agent.countdown import CancelWindows, Countdown, countdowns
from agent.feedback import Reason, Status, View
from agent.i18n import Language, text
from agent.icons import tray_icon
from agent.notice import reason_lines
from shared.domain import AlarmLevel, AlarmState, Trigger
from shared.protocol import AlarmStored, LevelSettings, RaiseAlarm, WorkstationInfo

log = logging.getLogger(__name__)

_TOOLTIPS = {
    Status.IDLE: "tray.ready",
    Status.SENT: "tray.sent",
    Status.STORED: "tray.stored",
    Status.DELIVERED: "tray.delivered",
    Status.COMING: "tray.coming",
    Status.ACKNOWLEDGED: "tray.acknowledged",
    Status.ARRIVED: "tray.arrived",
    Status.NOBODY_REACHED: "tray.nobody_reached",
    Status.RESOLVED: "tray.resolved",
    Status.NOT_DELIVERED: "tray.not_delivered",
}
COUNTDOWN_TITLE = "Stiller Alarm – Countdown"
STATUS_TITLE = "Stiller Alarm – Status"


def _problems(view: View, language: Language, hotkey: str) -> list[str]:
    """Why the PC is not protected, one line each; a missing link keeps its short text."""
    if view.protected:
        return []
    lines = []
    if Reason.NO_HUB in view.reasons or not view.reasons:
        lines.append(text("tray.not_protected", language))
    others = (r.value for r in view.reasons if r is not Reason.NO_HUB)
    return lines + reason_lines(others, language, hotkey)


def tooltip(view: View, language: Language, hotkey: str = "", cancel_s: int | None = None) -> str:
    """The tooltip for a view; what is broken outranks a quiet status.

    While the raiser may still withdraw an alarm, its countdown comes first.
    """
    lines = [text("tray.cancel_window", language, count=cancel_s)] if cancel_s is not None else []
    problems = _problems(view, language, hotkey)
    if not (problems and view.status in (Status.IDLE, Status.RESOLVED)):
        lines.append(text(_TOOLTIPS[view.status], language, count=view.coming))
    return "\n".join(lines + problems)


class Tray:
    """Owns the QSystemTrayIcon and its menu. No balloons, no sounds."""

    def __init__(
        self,
        *,
        language: Language,
        hotkey_level: AlarmLevel,
        on_raise: Callable[[AlarmLevel, Trigger], object],
        on_quit: Callable[[], None],
        tray_click: str = "double",
        allow_quit: bool = False,
        on_self_test: Callable[[], object] | None = None,
        log_dir: Path | None = None,
        on_show_status: Callable[[], object] | None = None,
        on_drill: Callable[[], object] | None = None,
        hotkey_label: str = "",
    ) -> None:
        self._language = language
        self._hotkey_label = hotkey_label  # "Strg+Alt+P", named when it could not be registered
        self._view = View(Status.IDLE, connected=False)
        self._cancel_s: int | None = None
        self._hotkey_level = hotkey_level
        self._on_raise = on_raise
        self._click = (
            QSystemTrayIcon.ActivationReason.DoubleClick
            if tray_click == "double"
            else QSystemTrayIcon.ActivationReason.Trigger
        )
        self.icon = QSystemTrayIcon()
        self.icon.activated.connect(self._activated)
        self.menu = QMenu()
        # First, so it is one key press away while it matters; hidden otherwise.
        self.cancel_action = QAction("", self.menu)
        self.cancel_action.setVisible(False)
        self._on_cancel: Callable[[], object] | None = None
        self.cancel_action.triggered.connect(self._cancel_clicked)
        self.menu.addAction(self.cancel_action)
        self.level3_action = QAction(text("menu.level3", language), self.menu)
        self.level3_action.triggered.connect(lambda: on_raise(AlarmLevel.DANGER, Trigger.TRAY))
        self.menu.addAction(self.level3_action)
        self.menu.addSeparator()
        self.self_test_action: QAction | None = None
        if on_self_test is not None:
            self.self_test_action = QAction(text("menu.self_test", language), self.menu)
            self.self_test_action.triggered.connect(lambda: on_self_test())
            self.menu.addAction(self.self_test_action)
        self.status_action: QAction | None = None
        if on_show_status is not None:
            self.status_action = QAction(text("menu.status", language), self.menu)
            self.status_action.triggered.connect(lambda: on_show_status())
            self.menu.addAction(self.status_action)
        self.log_action: QAction | None = None
        if log_dir is not None:
            self.log_action = QAction(text("menu.log_folder", language), self.menu)
            self.log_action.triggered.connect(
                lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_dir)))
            )
            self.menu.addAction(self.log_action)
        # Quitting leaves the PC without alarm, so only a config (or policy) that
        # allows it shows the entry; the autostart brings the agent back at login.
        self.quit_action: QAction | None = None
        if allow_quit:
            self.menu.addSeparator()
            self.quit_action = QAction(text("menu.quit", language), self.menu)
            self.quit_action.triggered.connect(on_quit)
            self.menu.addAction(self.quit_action)
        # A drill is never a click away from the real alarm: its own words, last.
        self.drill_action: QAction | None = None
        if on_drill is not None:
            self.menu.addSeparator()
            self.drill_action = QAction(text("menu.drill", language), self.menu)
            self.drill_action.triggered.connect(lambda: on_drill())
            self.menu.addAction(self.drill_action)
        self.icon.setContextMenu(self.menu)
        self.render(View(Status.IDLE, connected=False))

    def show(self) -> None:
        self.icon.show()
        log.info("tray icon shown (tray host available: %s)", self.icon.isSystemTrayAvailable())

    def hide(self) -> None:
        self.icon.hide()

    def render(self, view: View) -> None:
        self._view = view
        self._show_icon()
        self._show_tooltip()

    def _show_icon(self) -> None:
        self.icon.setIcon(tray_icon(self._view, withdrawable=self._cancel_s is not None))

    def _show_tooltip(self) -> None:
        self.icon.setToolTip(
            tooltip(self._view, self._language, self._hotkey_label, self._cancel_s)
        )

    def offer_cancel(self, seconds: int | None, on_cancel: Callable[[], object] | None) -> None:
        """Show "Alarm zurücknehmen (noch N s)" in the menu, or hide it (seconds None).

        The tooltip counts down too ("Alarm gesendet – zurücknehmen: noch N s") and
        the icon wears a white ring, so the raiser sees the window without the menu.
        """
        self._on_cancel = on_cancel if seconds is not None else None
        shown = seconds if self._on_cancel is not None else None
        if shown != self._cancel_s:
            if (shown is None) != (self._cancel_s is None):
                self._cancel_s = shown
                self._show_icon()  # the ring comes and goes with the window
            self._cancel_s = shown
            self._show_tooltip()
        if self._on_cancel is None:
            self.cancel_action.setVisible(False)
            return
        self.cancel_action.setText(text("menu.cancel_alarm", self._language, count=seconds))
        self.cancel_action.setVisible(True)

    def _cancel_clicked(self) -> None:
        if self._on_cancel is not None:
            self._on_cancel()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == self._click:
            self._on_raise(self._hotkey_level, Trigger.TRAY)


class CountdownWindow(QWidget):
    """Small, frameless, bottom-right: "Alarm wird in N s gesendet" and "Abbrechen" (Esc)."""

    def __init__(self, language: Language, on_cancel: Callable[[], None]) -> None:
        flags = (
            Qt.WindowType.Tool
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint
        )
        super().__init__(None, flags)
        self._language = language
        self.setWindowTitle(COUNTDOWN_TITLE)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        self.label = QLabel("")
        layout.addWidget(self.label)
        self.cancel_button = QPushButton(text("countdown.cancel", language))
        self.cancel_button.clicked.connect(on_cancel)
        self.cancel_button.setShortcut(Qt.Key.Key_Escape)
        layout.addWidget(self.cancel_button)

    def set_remaining(self, seconds: int) -> None:
        self.label.setText(text("countdown.text", self._language, count=seconds))

    def present(self) -> None:
        self.adjustSize()
        screen = self.screen().availableGeometry()
        self.move(screen.right() - self.width() - 16, screen.bottom() - self.height() - 16)
        self.show()
        self.raise_()
        self.activateWindow()


class StatusWindow(QWidget):
    """Read-only status and settings; keys a policy fixed are marked as locked."""

    def __init__(self, language: Language) -> None:
        super().__init__(None, Qt.WindowType.Window)
        self.setWindowTitle(STATUS_TITLE)
        self.label = QLabel("")
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        close = QPushButton(text("allclear.ok", language))
        close.clicked.connect(self.hide)
        layout.addWidget(close)

    def present(self, lines: list[str]) -> None:
        self.label.setText("\n".join(lines))
        self.adjustSize()
        self.show()
        self.raise_()


def status_lines(status: dict[str, Any], language: Language) -> list[str]:
    """The status as the CLI prints it and the status window shows it."""
    yes_no = {True: text("status.yes", language), False: text("status.no", language)}
    lines = [
        text("status.workstation", language, name=status.get("workstation_id", "?")),
        text("status.connected", language, name=yes_no[bool(status.get("connected"))]),
        text("status.protected" if status.get("protected") else "status.not_protected", language),
    ]
    lines += reason_lines(status.get("reasons", []), language, status.get("hotkey_label", ""))
    lines.append(room_line(status, language))
    hotkeys = ", ".join(display_chord(h, language) for h in status.get("hotkeys", [])) or "–"
    lines.append(text("status.hotkeys", language, name=hotkeys))
    locked = ", ".join(sorted(status.get("locked", []))) or "–"
    lines.append(text("status.locked", language, name=locked))
    return lines


def room_status(info: WorkstationInfo | None) -> dict[str, str | None] | None:
    """The room as the status reply carries it (JSON over the instance socket)."""
    if info is None or info.room is None:
        return None
    room = info.room
    return {"number": room.number, "name": room.name, "floor": room.floor}


def room_line(status: dict[str, Any], language: Language) -> str:
    """The status's room line as the hub mapped it: the room, or that none is assigned."""
    room = status.get("room")
    if room:
        return text("status.room", language, **room)
    if status.get("room_known"):
        return text("status.no_room", language)
    return text("status.room_unknown", language)


class RaiseControl(QObject):
    """Between a press and the outbox: the site's countdown, then the cancel window.

    ``request`` may be called from any thread (the hotkey's). With no countdown
    for the level (the default) the alarm goes to the outbox on the calling
    thread at once; otherwise the Qt thread runs the countdown window.
    """

    _requested = Signal(object, object, object)

    def __init__(
        self,
        *,
        language: Language,
        raise_alarm: Callable[[AlarmLevel, Trigger], RaiseAlarm],
        send_cancel: Callable[[uuid.UUID], None],
        tray: Tray,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._language = language
        self._raise = raise_alarm
        self._send_cancel = send_cancel
        self._tray = tray
        self._clock = clock
        self.countdown = Countdown()
        self.cancel_windows = CancelWindows()
        self._countdowns: dict[AlarmLevel, int] = {}
        self._own: set[uuid.UUID] = set()  # alarms raised here (not by `trigger` or self-test)
        self._waiting_result: Callable[[RaiseAlarm | None], None] | None = None
        self.window = CountdownWindow(language, self.cancel_countdown)
        self._tick = QTimer(self)
        self._tick.setInterval(250)  # only runs while a countdown or cancel window is open
        self._tick.timeout.connect(self._on_tick)
        self._requested.connect(self._press)

    def set_levels(self, levels: list[LevelSettings]) -> None:
        """The site's policy from the last Welcome."""
        self._countdowns = countdowns(levels)
        log.info(
            "policy: countdown %s",
            ", ".join(f"L{int(k)}={v}s" for k, v in sorted(self._countdowns.items())) or "none",
        )

    def request(
        self,
        level: AlarmLevel,
        trigger: Trigger,
        on_result: Callable[[RaiseAlarm | None], None] | None = None,
    ) -> None:
        """Raise an alarm as the site's policy asks. Thread-safe.

        on_result gets the queued alarm, or None if it was cancelled during the
        countdown (only the Qt thread passes one).
        """
        if self._countdowns.get(level, 0) <= 0 and self.countdown.pending is None:
            alarm = self._raise(level, trigger)  # the fast path: no thread hop
            self._own.add(alarm.alarm_id)
            if on_result is not None:
                on_result(alarm)
            return
        self._requested.emit(level, trigger, on_result)

    def _press(
        self,
        level: AlarmLevel,
        trigger: Trigger,
        on_result: Callable[[RaiseAlarm | None], None] | None,
    ) -> None:
        now = self._clock()
        send = self.countdown.press(level, trigger, self._countdowns.get(level, 0), now)
        if send is None:
            self._waiting_result = on_result
            log.info("countdown started: level=%d, %d s", level, self.countdown.remaining(now))
            self.window.set_remaining(self.countdown.remaining(now))
            self.window.present()
            self._tick.start()
            return
        previous, self._waiting_result = self._waiting_result, None
        self.window.hide()
        self._send(*send, [previous, on_result])

    def _send(
        self,
        level: AlarmLevel,
        trigger: Trigger,
        listeners: list[Callable[[RaiseAlarm | None], None] | None],
    ) -> None:
        alarm = self._raise(level, trigger)
        self._own.add(alarm.alarm_id)
        for listener in listeners:
            if listener is not None:
                listener(alarm)

    def cancel_countdown(self) -> None:
        dropped = self.countdown.cancel()
        self.window.hide()
        if dropped is None:
            return
        log.info("countdown cancelled: nothing sent")
        listener, self._waiting_result = self._waiting_result, None
        if listener is not None:
            listener(None)
        self._on_tick()

    def stored(self, stored: AlarmStored) -> None:
        if stored.alarm_id not in self._own:
            return
        if self.cancel_windows.stored(stored.alarm_id, stored.cancel_window_s, self._clock()):
            log.info("cancel window open %s: %d s", stored.alarm_id, stored.cancel_window_s)
            self._on_tick()
            self._tick.start()

    def updated(self, alarm_id: uuid.UUID, state: AlarmState) -> None:
        if state in (AlarmState.RESOLVED, AlarmState.CANCELLED):
            self.cancel_windows.close(alarm_id)
            self._on_tick()

    def cancel_alarm(self, alarm_id: uuid.UUID) -> bool:
        """Withdraw one of our stored alarms while its window is open."""
        if not self.cancel_windows.take(alarm_id, self._clock()):
            log.info("cancel window of %s already closed", alarm_id)
            self._on_tick()
            return False
        log.warning("alarm withdrawn by the raiser %s", alarm_id)
        self._send_cancel(alarm_id)
        self._on_tick()
        return True

    def _on_tick(self) -> None:
        now = self._clock()
        due = self.countdown.due(now)
        if due is not None:
            self.window.hide()
            listener, self._waiting_result = self._waiting_result, None
            self._send(*due, [listener])
        elif self.countdown.pending is not None:
            self.window.set_remaining(self.countdown.remaining(now))
        windows = self.cancel_windows.open(now)
        if windows:
            alarm_id, seconds = windows[-1]  # the newest alarm is the one to withdraw
            self._tray.offer_cancel(seconds, lambda: self.cancel_alarm(alarm_id))
        else:
            self._tray.offer_cancel(None, None)
        if self.countdown.pending is None and not windows:
            self._tick.stop()
