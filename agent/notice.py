"""The raiser's notice window: small, frameless, bottom-right, one line per alarm.

A thin Qt shell over agent/feedback.py (the state) and agent/feedback_text.py
(the words). No sound, no flashing, and a neutral title a visitor would not read
as "alarm"; "Ausblenden" hides it until the next change. It takes no focus, so
typing on (and the hotkey) keep working while it is shown.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from agent.feedback import AlarmFeedback
from agent.feedback_text import notice_lines
from agent.i18n import Language, text

NOTICE_TITLE = "Stiller Alarm – Rückmeldung"


class NoticeWindow(QWidget):
    def __init__(self, language: Language) -> None:
        flags = (
            Qt.WindowType.Tool
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint
            | Qt.WindowType.WindowDoesNotAcceptFocus
        )
        super().__init__(None, flags)
        self._language = language
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
        screen = self.screen().availableGeometry()
        self.move(screen.right() - self.width() - 16, screen.bottom() - self.height() - 16)
        self.show()
        self.raise_()
