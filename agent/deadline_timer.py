"""One-shot Qt timers that never fire early, for the deadlines the raiser is promised.

Qt makes a timer of more than 2 s a coarse one (``QTimer.singleShot`` has no timer type
in PySide6), and a coarse timer may fire up to 5 % early to share a wake-up with others:
a 3 s deadline checked at 2.85 s found nothing late yet, and was not checked again.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer


def call_after(seconds: float, callback: Callable[[], None], parent: QObject | None = None) -> None:
    """Calls ``callback`` on the Qt thread once ``seconds`` have passed, not before.

    The timer belongs to ``parent`` (default: the application) and is deleted once fired.
    """
    timer = QTimer(parent or QCoreApplication.instance())
    timer.setSingleShot(True)
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(callback)
    timer.timeout.connect(timer.deleteLater)
    timer.start(math.ceil(seconds * 1000))
