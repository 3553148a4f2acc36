"""The tray icon: a left click raises the alarm; icon and tooltip are the raiser's only feedback."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from agent.feedback import Status, View
from agent.i18n import Language, text
from agent.icons import tray_icon
from shared.domain import AlarmLevel, Trigger

log = logging.getLogger(__name__)

_TOOLTIPS = {
    Status.IDLE: "tray.ready",
    Status.SENT: "tray.sent",
    Status.STORED: "tray.stored",
    Status.COMING: "tray.coming",
    Status.RESOLVED: "tray.resolved",
    Status.NOT_DELIVERED: "tray.not_delivered",
}


def tooltip(view: View, language: Language) -> str:
    """The tooltip for a view; a missing link outranks a quiet status."""
    if not view.connected and view.status in (Status.IDLE, Status.RESOLVED):
        return text("tray.not_protected", language)
    lines = [text(_TOOLTIPS[view.status], language, count=view.coming)]
    if not view.connected:
        lines.append(text("tray.not_protected", language))
    return "\n".join(lines)


class Tray:
    """Owns the QSystemTrayIcon and its menu. No balloons, no sounds, no windows."""

    def __init__(
        self,
        *,
        language: Language,
        hotkey_level: AlarmLevel,
        on_raise: Callable[[AlarmLevel, Trigger], object],
        on_quit: Callable[[], None],
    ) -> None:
        self._language = language
        self._hotkey_level = hotkey_level
        self._on_raise = on_raise
        self.icon = QSystemTrayIcon()
        self.icon.activated.connect(self._activated)
        self.menu = QMenu()
        self.level3_action = QAction(text("menu.level3", language), self.menu)
        self.level3_action.triggered.connect(lambda: on_raise(AlarmLevel.DANGER, Trigger.TRAY))
        self.menu.addAction(self.level3_action)
        self.menu.addSeparator()
        # Quitting leaves the PC without alarm; the hub shows it offline and
        # the autostart/systemd unit brings the agent back at the next login.
        self.quit_action = QAction(text("menu.quit", language), self.menu)
        self.quit_action.triggered.connect(on_quit)
        self.menu.addAction(self.quit_action)
        self.icon.setContextMenu(self.menu)
        self.render(View(Status.IDLE, connected=False))

    def show(self) -> None:
        self.icon.show()
        log.info("tray icon shown (tray host available: %s)", self.icon.isSystemTrayAvailable())

    def hide(self) -> None:
        self.icon.hide()

    def render(self, view: View) -> None:
        self.icon.setIcon(tray_icon(view))
        self.icon.setToolTip(tooltip(view, self._language))

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:  # a left click
            self._on_raise(self._hotkey_level, Trigger.TRAY)
