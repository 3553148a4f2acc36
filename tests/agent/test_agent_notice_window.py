"""The "Nicht geschützt" window offscreen: its words, close vs. withdraw, a screenshot."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from agent.config_problem import ConfigProblemShell, unreadable_line
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


def test_config_problem_window_names_the_file_and_comes_back_after_a_close(qtbot: QtBot) -> None:
    path = Path("/etc/silent-alarm/agent.d/50-enrolment.toml")
    assert unreadable_line(path, "en") == (
        f"Not protected: configuration not readable ({path}) – please tell IT"
    )
    shell = ConfigProblemShell(unreadable_line(path, "de"), "de", reminder=0.2)
    qtbot.addWidget(shell.window)
    shell.start()
    assert shell.window.isVisible()  # at once: there is no reconnect to wait for
    assert shell.window.label.text() == (
        f"Nicht geschützt: Konfiguration nicht lesbar ({path}) – bitte IT informieren"
    )
    qtbot.mouseClick(shell.window.findChild(QPushButton), Qt.MouseButton.LeftButton)
    assert not shell.window.isVisible()
    qtbot.waitUntil(shell.window.isVisible, timeout=5000)  # back after the reminder
