"""The "Nicht geschützt" window offscreen: its words, close vs. withdraw, a screenshot."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from agent.feedback import Reason, Status, View
from agent.notice import reason_lines
from agent.notice_window import NotProtectedWindow
from agent.tray import tooltip

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_window_names_the_reasons_and_reports_only_the_employees_close(qtbot: QtBot) -> None:
    closed: list[int] = []
    window = NotProtectedWindow("de", lambda: closed.append(1))
    qtbot.addWidget(window)
    lines = reason_lines(["hotkey_unavailable", "no_room"], "de", "Strg+Alt+P")
    window.present(lines)
    assert window.isVisible()
    assert window.windowTitle() == "Stiller Alarm – Nicht geschützt"
    assert window.label.text().startswith(
        "Nicht geschützt: Tastenkombination Strg+Alt+P konnte nicht registriert werden"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    assert window.grab().save(str(ARTIFACTS / "agent-not-protected.png"))
    window.withdraw()  # protected again: not a close by the employee
    assert not window.isVisible()
    assert closed == []
    window.present(lines)
    window.close()  # as Qt does for every window when the agent quits
    assert closed == []
    window.present(lines)
    qtbot.mouseClick(window.findChild(QPushButton), Qt.MouseButton.LeftButton)  # "Schließen"
    assert not window.isVisible()
    assert closed == [1]


def test_tooltip_names_the_reason_and_the_cancel_countdown() -> None:
    view = View(Status.IDLE, True, reasons=frozenset({Reason.NO_TRAY}))
    assert tooltip(view, "de") == (
        "Nicht geschützt: kein Tray-Symbol möglich (keine Taskleiste) – bitte IT informieren"
    )
    protected = View(Status.STORED, True)
    assert tooltip(protected, "de", cancel_s=12) == (
        "Alarm gesendet – zurücknehmen: noch 12 s (Rechtsklick)\nStiller Alarm – angekommen"
    )
    offline = View(Status.IDLE, False, reasons=frozenset({Reason.NO_HUB, Reason.NO_ROOM}))
    assert tooltip(offline, "de").splitlines() == [
        "Stiller Alarm – keine Verbindung, nicht geschützt",
        "Nicht geschützt: diesem PC ist kein Raum zugewiesen – bitte IT informieren",
    ]
