"""The tray icon, its tooltip and menu: it draws the raiser's status and forwards the clicks.

Icon and tooltip are the raiser's quiet feedback (with the notice window of
agent/raiser_notice.py, which says in words what the hub confirmed). A click (or
double-click, by config) raises the hotkey level; the menu offers level 3, "Selbsttest
jetzt", the log folder, a read-only status window, only if ``allow_quit`` quitting and,
set apart at the bottom unless the config hides it, "Übungsalarm auslösen". While an
alarm may still be withdrawn, "Alarm zurücknehmen" comes first; agent/raise_control.py
says when.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import (
    QMenu,
    QSystemTrayIcon,
)

from agent.feedback import Reason, Status, View
from agent.i18n import Language, text
from agent.icons import tray_icon
from agent.notice import reason_lines
from shared.domain import AlarmLevel, Trigger

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
