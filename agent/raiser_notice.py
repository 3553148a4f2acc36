"""The raiser's notice window: small, frameless, bottom-right, one line per alarm.

A thin Qt shell over agent/feedback.py (the state) and agent/feedback_text.py
(the words). No sound, no flashing, and a neutral title a visitor would not read
as "alarm"; "Ausblenden" hides it until the next change. It takes no focus, so
typing on (and the hotkey) keep working while it is shown.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from agent.feedback import AlarmFeedback
from agent.feedback_text import notice_lines
from agent.i18n import Language, text

NOTICE_TITLE = "Stiller Alarm – Rückmeldung"


class NoticeWindow(QWidget):
    def __init__(self, language: Language, avoid: Callable[[], QRect] | None = None) -> None:
        """``avoid``: where the tray icon is; the notice never covers it (a click on the
        icon must still raise an alarm, the menu must still open)."""
        flags = (
            Qt.WindowType.Tool
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint
            | Qt.WindowType.WindowDoesNotAcceptFocus
        )
        super().__init__(None, flags)
        self._language = language
        self._avoid = avoid
        self.setWindowTitle(text("feedback.title", language))
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        self.label = QLabel("")
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.label)
        self.hide_button = QPushButton(text("feedback.hide", language))
        self.hide_button.clicked.connect(self.dismiss)
        layout.addWidget(self.hide_button)
        self._shown: tuple[AlarmFeedback, ...] = ()
        self._dismissed = False

    def show_alarms(self, alarms: tuple[AlarmFeedback, ...]) -> None:
        """Shows the alarms' lines; hidden when there are none or after "Ausblenden"
        until something changes."""
        if alarms == self._shown:
            return
        self._shown = alarms
        self._dismissed = False
        if not alarms:
            self.hide()
            return
        self.label.setText("\n".join(notice_lines(alarms, self._language)))
        self._present()

    def dismiss(self) -> None:
        self._dismissed = True
        self.hide()

    @property
    def lines(self) -> list[str]:
        return self.label.text().splitlines() if self.isVisible() else []

    def _present(self) -> None:
        if self._dismissed:
            return
        self.adjustSize()
        area = self.screen().availableGeometry()
        x = area.right() - self.width() - 16
        y = area.bottom() - self.height() - 16
        icon = self._avoid() if self._avoid is not None else QRect()
        if icon.isValid() and QRect(x, y, self.width(), self.height()).intersects(
            icon.adjusted(-8, -8, 8, 8)
        ):  # a tray at the bottom: above its icon; at the top: below it
            if icon.center().y() > area.center().y():
                y = icon.top() - self.height() - 16
            else:
                y = icon.bottom() + 16
        self.move(x, y)
        self.show()
        self.raise_()
