"""When the "Nicht geschützt" window shows, comes back after a close, and goes; its words."""

from __future__ import annotations

import pytest

from agent.feedback import Reason
from agent.notice import Decision, NotProtectedNotice, reason_lines

HOTKEY = frozenset({Reason.HOTKEY_UNAVAILABLE})


def test_protected_shows_nothing_and_needs_no_wake() -> None:
    notice = NotProtectedNotice(delay=10, reminder=300)
    assert notice.changed(frozenset(), 0.0) == Decision(visible=False, wake_in=None)


def test_a_short_reconnect_shows_nothing() -> None:
    notice = NotProtectedNotice(delay=10, reminder=300)
    assert notice.changed(frozenset({Reason.NO_HUB}), 100.0) == Decision(False, 10.0)
    assert notice.poll(105.0) == Decision(False, 5.0)
    assert notice.changed(frozenset(), 106.0) == Decision(False, None)
    assert notice.poll(200.0).visible is False


def test_shown_after_the_delay_and_kept_while_unprotected() -> None:
    notice = NotProtectedNotice(delay=10, reminder=300)
    notice.changed(HOTKEY, 0.0)
    assert notice.poll(10.0) == Decision(True, None)
    # Another reason joins: still shown (the shell updates the words).
    assert notice.changed(HOTKEY | {Reason.NO_ROOM}, 20.0).visible


def test_closed_by_the_employee_comes_back_after_the_reminder_interval() -> None:
    notice = NotProtectedNotice(delay=0, reminder=300)
    assert notice.changed(HOTKEY, 0.0).visible
    assert notice.closed(50.0) == Decision(False, 300.0)
    assert notice.poll(349.0) == Decision(False, 1.0)
    assert notice.poll(350.0) == Decision(True, None)
    assert notice.closed(400.0) == Decision(False, 300.0)  # and again, as often as closed


def test_protected_again_hides_it_and_forgets_the_close() -> None:
    notice = NotProtectedNotice(delay=0, reminder=300)
    notice.changed(HOTKEY, 0.0)
    notice.closed(1.0)
    assert notice.changed(frozenset(), 2.0) == Decision(False, None)
    assert notice.changed(HOTKEY, 3.0).visible  # a new problem: shown at once (delay 0)


def test_reminder_must_be_positive() -> None:
    with pytest.raises(ValueError, match="reminder"):
        NotProtectedNotice(delay=0, reminder=0)


def test_reason_lines_name_the_hotkey_and_keep_unknown_values() -> None:
    lines = reason_lines(
        ["no_room", "hotkey_unavailable", "from_a_newer_agent"], "de", "Strg+Alt+P"
    )
    assert lines == [
        "Nicht geschützt: Tastenkombination Strg+Alt+P konnte nicht registriert werden"
        " – bitte IT informieren",
        "Nicht geschützt: diesem PC ist kein Raum zugewiesen – bitte IT informieren",
        "Nicht geschützt: from_a_newer_agent",
    ]
    assert reason_lines(["no_tray"], "en", "")[0].startswith("Not protected: no tray icon")
