"""The countdown window "Alarm wird in N s gesendet": a thin Qt shell over agent/raise_control.py.

``CountdownShell`` is what ``RaiseControl`` drives: the window, a quarter-second
tick while a countdown or cancel window is open, the hop from the hotkey's
thread to the Qt thread, and the tray menu's cancel entry.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from agent.i18n import Language, text
from agent.tray import Tray

COUNTDOWN_TITLE = "Stiller Alarm – Countdown"


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


class CountdownShell(QObject):
    """``RaiseShell`` on the Qt thread: the countdown window, the tick, the tray's cancel entry."""

    _call = Signal(object)

    def __init__(self, language: Language, tray: Tray) -> None:
        super().__init__()
        self.tray = tray
        self._on_cancel: Callable[[], None] = lambda: None
        self._on_tick: Callable[[], None] = lambda: None
        self.window = CountdownWindow(language, lambda: self._on_cancel())
        self._tick = QTimer(self)
        self._tick.setInterval(250)  # only runs while a countdown or cancel window is open
        self._tick.timeout.connect(lambda: self._on_tick())
        # A slot of this object: queued when emitted on another thread, direct on the Qt thread.
        self._call.connect(self._run)

    def call_on_gui_thread(self, call: Callable[[], None]) -> None:
        self._call.emit(call)

    def _run(self, call: Callable[[], None]) -> None:
        call()

    def show_countdown(self, seconds: int, on_cancel: Callable[[], None]) -> None:
        self._on_cancel = on_cancel
        self.window.set_remaining(seconds)
        self.window.present()

    def count_down(self, seconds: int) -> None:
        self.window.set_remaining(seconds)

    def hide_countdown(self) -> None:
        self.window.hide()

    def offer_cancel(self, seconds: int | None, on_cancel: Callable[[], object] | None) -> None:
        self.tray.offer_cancel(seconds, on_cancel)

    def start_ticking(self, on_tick: Callable[[], None]) -> None:
        self._on_tick = on_tick
        self._tick.start()

    def stop_ticking(self) -> None:
        self._tick.stop()
