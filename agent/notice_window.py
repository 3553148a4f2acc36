"""The "Stiller Alarm – Nicht geschützt" window: a thin Qt shell over agent/notice.py.

Small, bottom-right, with a title bar the employee can close. It appears without
taking the keyboard focus (whoever types goes on typing), without flashing
and without a sound.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from agent.i18n import Language, text


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
