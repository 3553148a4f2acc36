"""A window of text with an OK button that hides it: the status window and the drill's outcome."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from agent.i18n import Language, text


class MessageWindow(QWidget):
    """Stays until OK; ``present`` puts in new text and brings the window to the front."""

    def __init__(self, title: str, language: Language, *, selectable: bool = False) -> None:
        super().__init__(None, Qt.WindowType.Window)
        self.setWindowTitle(title)
        self.label = QLabel("")
        if selectable:
            self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        close = QPushButton(text("allclear.ok", language))
        close.clicked.connect(self.hide)
        layout.addWidget(close)

    def present(self, message: str) -> None:
        self.label.setText(message)
        self.adjustSize()
        self.show()
        self.raise_()
