"""The "Stiller Alarm – Nicht geschützt" window: a thin Qt shell over agent/notice.py.

Small, bottom-right, with a title bar the employee can close. It appears without
taking the keyboard focus (whoever types goes on typing), without flashing
and without a sound. ``NotProtectedShell`` runs the Qt-free schedule with one
single-shot timer and makes the window on first need.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from agent.feedback import Reason, ordered
from agent.i18n import Language, text
from agent.notice import Decision, NotProtectedNotice, reason_lines

log = logging.getLogger(__name__)


class NotProtectedWindow(QWidget):
    def __init__(self, language: Language, on_closed: Callable[[], None]) -> None:
        super().__init__(None, Qt.WindowType.Window | Qt.WindowType.WindowStaysOnTopHint)
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setWindowTitle(text("notprot.title", language))
        self._on_closed = on_closed
        layout = QVBoxLayout(self)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label)
        close = QPushButton(text("notprot.close", language))
        close.clicked.connect(self._closed_by_employee)
        layout.addWidget(close)
        self.setMinimumWidth(420)

    def present(self, lines: list[str]) -> None:
        self.label.setText("\n".join(lines))
        if self.isVisible():
            return
        self.adjustSize()
        screen = self.screen().availableGeometry()
        self.move(screen.right() - self.width() - 16, screen.bottom() - self.height() - 48)
        self.show()

    def withdraw(self) -> None:
        """Hidden because the PC is protected again: not a close by the employee."""
        self.hide()

    def _closed_by_employee(self) -> None:
        self.hide()
        self._on_closed()

    def closeEvent(self, event: QCloseEvent) -> None:
        event.accept()
        # Spontaneous: the title bar's close button (the window manager). Qt's own
        # close of every window when the agent quits is not the employee's choice.
        if event.spontaneous():
            self._on_closed()


class NotProtectedShell:
    """Shows, re-shows and hides the window as ``NotProtectedNotice`` decides (Qt thread).

    ``on_wake`` runs at each timer wake before the schedule is asked; while
    ``no_tray`` is a reason the timer wakes at least every ``reminder`` seconds,
    so the agent can look for a panel that came up after the login wait.
    """

    def __init__(
        self,
        *,
        language: Language,
        hotkey_label: str,
        delay: float,
        reminder: float,
        on_wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.notice = NotProtectedNotice(delay=delay, reminder=reminder)
        self.window: NotProtectedWindow | None = None
        self._language = language
        self._hotkey_label = hotkey_label
        self._on_wake = on_wake
        self._shown: list[str] = []  # the reasons the window names now (for the log)
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._wake)

    def changed(self, reasons: frozenset[Reason]) -> None:
        self._apply(self.notice.changed(reasons, time.monotonic()))

    def _wake(self) -> None:
        self._on_wake()
        self._apply(self.notice.poll(time.monotonic()))

    def _closed(self) -> None:
        log.info("not-protected window closed; back in %.0f s", self.notice.reminder)
        self._apply(self.notice.closed(time.monotonic()))

    def _apply(self, decision: Decision) -> None:
        self._timer.stop()
        if decision.visible:
            if self.window is None:
                self.window = NotProtectedWindow(self._language, self._closed)
            reasons = [reason.value for reason in ordered(self.notice.reasons)]
            if not self.window.isVisible() or reasons != self._shown:
                log.info("not-protected window shown: %s", ", ".join(reasons))
            self._shown = reasons
            self.window.present(reason_lines(reasons, self._language, self._hotkey_label))
        elif not self.notice.reasons and self.window is not None and self.window.isVisible():
            self.window.withdraw()
            self._shown = []
            log.info("not-protected window hidden: protected again")
        wake = decision.wake_in
        if Reason.NO_TRAY in self.notice.reasons:
            reminder = self.notice.reminder
            wake = reminder if wake is None else min(wake, reminder)
        if wake is not None:
            self._timer.start(int(wake * 1000) + 1)
