"""The agent that cannot read its configuration: no identity, no hub, so it says so on screen.

Started by ``silent-alarm-agent run`` instead of the tray agent when a config
file or folder exists but this user may not read it (a root-only file). It shows
the "Nicht geschützt" window with the path and the request to tell IT, brings it
back ``reminder`` seconds after the employee closed it (as the tray agent's
window does, agent/notice.py) and runs until the session ends.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from agent.feedback import Reason
from agent.i18n import Language, text
from agent.notice import Decision, NotProtectedNotice
from agent.notice_window import NotProtectedWindow
from agent.quit_signals import quit_on_signals

log = logging.getLogger(__name__)

EXIT_CONFIG_UNREADABLE = 2  # the exit code of any config error: this PC was not protected


def unreadable_line(path: Path, language: Language) -> str:
    reason = text("notprot.config_unreadable", language, path=str(path))
    return text("notprot.line", language, reason=reason)


class ConfigProblemShell:
    """The window on the schedule of ``NotProtectedNotice``: at once, and back after a close."""

    def __init__(self, line: str, language: Language, reminder: float) -> None:
        self.line = line
        self.notice = NotProtectedNotice(delay=0, reminder=reminder)
        self.window = NotProtectedWindow(language, self._closed)
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(lambda: self._apply(self.notice.poll(time.monotonic())))

    def start(self) -> None:
        # Without its configuration the agent has no hub either; the text is our own line.
        self._apply(self.notice.changed(frozenset({Reason.NO_HUB}), time.monotonic()))

    def _closed(self) -> None:
        log.info("not-protected window closed; back in %.0f s", self.notice.reminder)
        self._apply(self.notice.closed(time.monotonic()))

    def _apply(self, decision: Decision) -> None:
        if decision.visible:
            self.window.present([self.line])
            log.info("not-protected window shown: %s", self.line)
        if decision.wake_in is not None:
            self._timer.start(int(decision.wake_in * 1000) + 1)


def run_config_problem(path: Path, language: Language, reminder: float = 300.0) -> int:
    """Show the window until the session ends (SIGTERM); the exit code says: not protected."""
    qapp = QApplication(["silent-alarm-agent"])
    qapp.setApplicationName("silent-alarm-agent")
    qapp.setQuitOnLastWindowClosed(False)
    notifier = quit_on_signals(qapp)
    shell = ConfigProblemShell(unreadable_line(path, language), language, reminder)
    shell.start()
    try:
        qapp.exec()
    finally:
        notifier.setEnabled(False)
    return EXIT_CONFIG_UNREADABLE
