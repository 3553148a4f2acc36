"""Popups for colleagues' alarms: always on top, big, answered with "Ich komme" / "Kann nicht".

After "Ich komme" the popup stays (silent) with "Bin da", so the responder can
say when they are at the room; that answer moves the alarm to "arrived".
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QFont, QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from agent.i18n import Language, level_name, text
from agent.popup_text import raiser_line, where_lines
from agent.sound import AlarmSound
from shared.domain import AlarmKind, AlarmLevel, AlarmState, Answer, Instruction
from shared.protocol import AlarmNotify, AlarmUpdate, Responder

log = logging.getLogger(__name__)

_COLORS = {
    AlarmLevel.SUPPORT: ("#fff4d6", "#5a4500"),
    AlarmLevel.THREAT: ("#ffd9b3", "#5a2a00"),
    AlarmLevel.DANGER: ("#c62828", "#ffffff"),
}


def popup_title(notify: AlarmNotify, language: Language) -> str:
    """Always starts with "Stiller Alarm" so people (and tests) can find the window."""
    if notify.room is not None:
        title = text("popup.title", language, room=notify.room.number)
    else:
        title = text("popup.title_no_room", language, level=level_name(notify.level, language))
    if notify.kind is AlarmKind.DRILL:
        return text("popup.title_drill", language, rest=title.split(" – ", 1)[1])
    return title


def responders_line(responders: list[Responder], language: Language) -> str:
    coming = [r.name for r in responders if r.answer is Answer.COMING]
    if not coming:
        return text("popup.no_responders", language)
    return text("popup.responders", language, names=", ".join(coming))


class AlarmPopup(QWidget):
    """One colleague's alarm. Level-3 STAY_AWAY popups offer only "Verstanden".

    ``answered``: the first answer was given (the popup no longer rings).
    ``on_the_way``: the answer was "Ich komme"; the popup now offers "Bin da".
    ``finished``: nothing more will be answered here (closed, or "Bin da" given).
    """

    def __init__(
        self,
        notify: AlarmNotify,
        *,
        language: Language,
        on_answer: Callable[[uuid.UUID, Answer | None], None],
        on_shown: Callable[[uuid.UUID], None],
        no_hub: bool = False,
    ) -> None:
        super().__init__(None, Qt.WindowType.Window | Qt.WindowType.WindowStaysOnTopHint)
        self.notify = notify
        self._language = language
        self._on_answer = on_answer
        self._on_shown = on_shown
        self._shown_once = False
        self.answered = False
        self.on_the_way = False
        self.finished = False
        self.setWindowTitle(popup_title(notify, language))
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        background, foreground = _COLORS[notify.level]
        self.setStyleSheet(
            f"AlarmPopup {{ background: {background}; }} QLabel {{ color: {foreground}; }}"
        )
        self.setAutoFillBackground(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 24)
        # A drill must never be mistaken for the real thing, nor the other way round.
        self.drill_label: QLabel | None = None
        if notify.kind is AlarmKind.DRILL:
            self.drill_label = self._label(text("popup.drill", language), 34, bold=True)
            layout.addWidget(self.drill_label)
        # Issue 16: sent by the raiser's agent directly; nobody at the control centre knows yet.
        self.no_hub_label = self._label(text("popup.no_hub", language), 18, bold=True)
        self.no_hub_label.setVisible(no_hub)
        layout.addWidget(self.no_hub_label)
        self.level_label = self._label(level_name(notify.level, language), 30, bold=True)
        layout.addWidget(self.level_label)
        # What the popup says, for the log; the raiser's name stays out of it.
        self.shown_lines: list[str] = [self.no_hub_label.text()] if no_hub else []
        self.shown_lines.append(self.level_label.text())
        self.where_labels: list[QLabel] = []
        if notify.room is not None:
            for index, line in enumerate(where_lines(notify.room, language)):
                label = self._label(line, 22 if index == 0 else 16, bold=index == 0)
                self.where_labels.append(label)
                layout.addWidget(label)
                self.shown_lines.append(line)
        raiser = raiser_line(notify, language)
        self.raiser_label: QLabel | None = None
        if raiser is not None:
            self.raiser_label = self._label(raiser, 16)
            layout.addWidget(self.raiser_label)
        stay_away = notify.instruction is Instruction.STAY_AWAY
        instruction = text(f"popup.{notify.instruction.value}", language)
        self.instruction_label = self._label(instruction, 20, bold=stay_away)
        layout.addWidget(self.instruction_label)
        self.shown_lines.append(instruction)
        self.responders_label = self._label(responders_line(notify.responders, language), 16)
        layout.addWidget(self.responders_label)
        # Nobody is meant to go to a STAY_AWAY alarm; "nobody on the way" would mislead.
        self.responders_label.setVisible(not stay_away)

        buttons = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        if stay_away:
            self._button(buttons, "popup.understood", None)
        else:
            self._button(buttons, "popup.coming", Answer.COMING)
            self._button(buttons, "popup.cannot", Answer.CANNOT)
            self._button(buttons, "popup.arrived", Answer.ARRIVED).setVisible(False)
        layout.addLayout(buttons)
        self.setMinimumWidth(560)

    def _label(self, content: str, points: int, *, bold: bool = False) -> QLabel:
        label = QLabel(content)
        font = QFont(label.font())
        font.setPointSize(points)
        font.setBold(bold)
        label.setFont(font)
        label.setWordWrap(True)
        return label

    def _button(self, row: QHBoxLayout, message_id: str, answer: Answer | None) -> QPushButton:
        button = QPushButton(text(message_id, self._language))
        button.setAutoDefault(False)
        # No button ever holds the focus: someone typing when the popup appears
        # must not answer it with Space or Enter. Alt+letter and clicks answer.
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        font = QFont(button.font())
        font.setPointSize(16)
        button.setFont(font)
        button.setMinimumHeight(48)
        button.clicked.connect(lambda: self._answer(answer))
        row.addWidget(button)
        self.buttons[button.text().replace("&", "")] = button
        return button

    def _answer(self, answer: Answer | None) -> None:
        self.answered = True
        if answer is Answer.COMING:
            # Stay on screen, silent, with "Bin da" for when they reach the room.
            self.on_the_way = True
            self.instruction_label.setText(text("popup.on_the_way", self._language))
            self.fit_text()
            self._on_answer(self.notify.alarm_id, answer)
            for name, button in self.buttons.items():
                button.setVisible(name == text("popup.arrived", self._language).replace("&", ""))
            return
        self.finished = True
        self._on_answer(self.notify.alarm_id, answer)
        self.close()

    def dismiss(self) -> None:
        """Closed by the agent (all-clear, shutdown): reports nothing."""
        self.answered = self.finished = True
        self.close()

    def set_responders(self, responders: list[Responder]) -> None:
        self.responders_label.setText(responders_line(responders, self._language))
        self.fit_text()

    def present(self) -> None:
        self.fit_text()
        self.show()
        self.raise_()
        self.activateWindow()

    def fit_text(self) -> None:
        """Tall enough for every wrapped line: a window's size hint ignores word wrap,
        so with the place lines the instruction was cut off."""
        layout = self.layout()
        width = max(self.width(), self.minimumWidth(), self.sizeHint().width())
        height = layout.totalHeightForWidth(width) if layout is not None else self.height()
        self.resize(width, max(height, self.sizeHint().height()))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            # After this event the window is mapped; confirm receipt then.
            QTimer.singleShot(0, lambda: self._on_shown(self.notify.alarm_id))

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.finished:
            # Closed without an answer, or on the way and closed without "Bin da".
            self.answered = self.finished = True
            self._on_answer(self.notify.alarm_id, None)
        super().closeEvent(event)


def all_clear_text(notify: AlarmNotify, state: AlarmState, language: Language) -> str:
    stay_away = notify.instruction is Instruction.STAY_AWAY
    if state is AlarmState.CANCELLED:
        if notify.room is not None:
            # Security must know which room to follow up on: the raiser may have been made to.
            room = notify.room
            return text("allclear.cancelled_room", language, number=room.number, name=room.name)
        return text("allclear.cancelled_stay_away" if stay_away else "allclear.cancelled", language)
    if notify.room is not None:
        return text(
            "allclear.resolved_room", language, number=notify.room.number, name=notify.room.name
        )
    return text("allclear.resolved_stay_away", language)


class AllClearPopup(QWidget):
    """Tells everyone who got an alarm that it is over; stays until confirmed."""

    def __init__(self, notify: AlarmNotify, state: AlarmState, *, language: Language) -> None:
        super().__init__(None, Qt.WindowType.Window | Qt.WindowType.WindowStaysOnTopHint)
        self.alarm_id = notify.alarm_id
        self.setWindowTitle(text("allclear.title", language))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 24)
        self.message_label = QLabel(all_clear_text(notify, state, language))
        font = QFont(self.message_label.font())
        font.setPointSize(18)
        self.message_label.setFont(font)
        self.message_label.setWordWrap(True)
        layout.addWidget(self.message_label)
        ok = QPushButton(text("allclear.ok", language))
        ok.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        ok.setMinimumHeight(48)
        ok_font = QFont(ok.font())
        ok_font.setPointSize(16)
        ok.setFont(ok_font)
        ok.clicked.connect(self.close)
        layout.addWidget(ok)
        self.setMinimumWidth(480)


class PopupManager:
    """One popup per alarm id: the hub re-sends active alarms on every reconnect."""

    def __init__(
        self,
        *,
        language: Language,
        send_receipt: Callable[[uuid.UUID], None],
        send_answer: Callable[[uuid.UUID, Answer], None],
        sound: AlarmSound | None = None,
    ) -> None:
        self._language = language
        self._sound = sound  # rings until every popup is answered (agent/sound.py)
        self._send_receipt = send_receipt
        self._send_answer = send_answer
        self.popups: dict[uuid.UUID, AlarmPopup] = {}
        self._done: set[uuid.UUID] = set()  # answered or dismissed; a re-send only gets a receipt
        self._retired: list[QWidget] = []
        self._shown: dict[uuid.UUID, AlarmNotify] = {}  # what each alarm said, for its all-clear
        self.all_clear: dict[uuid.UUID, AllClearPopup] = {}

    def show(self, notify: AlarmNotify, *, no_hub: bool = False) -> None:
        """``no_hub``: a neighbour's agent sent it directly (issue 16); the hub's notify of
        the same alarm later finds this popup and takes the mark away."""
        alarm_id = notify.alarm_id
        popup = self.popups.get(alarm_id)
        if popup is not None:
            if not no_hub and not popup.no_hub_label.isHidden():
                popup.no_hub_label.setVisible(False)
                log.info("popup %s: the hub has it now", alarm_id)
            popup.set_responders(notify.responders)
            popup.present()
            self._send_receipt(alarm_id)
            return
        if alarm_id in self._done:
            self._send_receipt(alarm_id)
            return
        self._shown[alarm_id] = notify
        popup = AlarmPopup(
            notify,
            language=self._language,
            on_answer=self._answered,
            on_shown=self._on_shown,
            no_hub=no_hub,
        )
        self.popups[alarm_id] = popup
        popup.present()
        log.info("popup text %s: %s", alarm_id, " | ".join(popup.shown_lines))
        self._follow_sound()

    def update(self, update: AlarmUpdate) -> bool:
        """Apply an update to a popup; False if no popup of ours knows this alarm.

        A resolved or withdrawn alarm replaces its popup with an all-clear, also
        for those who already answered or dismissed it: someone who locked their
        door must be told that it is over.
        """
        alarm_id = update.alarm_id
        popup = self.popups.get(alarm_id)
        if popup is None and alarm_id not in self._done:
            return False
        if update.state in (AlarmState.RESOLVED, AlarmState.CANCELLED):
            if popup is not None:
                popup.dismiss()
                self._forget(alarm_id)
            self._show_all_clear(alarm_id, update.state)
        elif popup is not None:
            popup.set_responders(update.responders)
        return True

    def _show_all_clear(self, alarm_id: uuid.UUID, state: AlarmState) -> None:
        # After the resolve nothing more comes for this alarm; a withdrawn one is resolved later.
        notify = (
            self._shown.pop(alarm_id, None)
            if state is AlarmState.RESOLVED
            else self._shown.get(alarm_id)
        )
        if notify is None:
            return
        previous = self.all_clear.pop(alarm_id, None)  # a cancel, then the resolve
        if previous is not None:
            self._dispose(previous)
        window = AllClearPopup(notify, state, language=self._language)
        self.all_clear[alarm_id] = window
        window.show()
        window.raise_()
        # The text names at most a room, never a person: it may go into the log.
        log.info("all clear shown %s %s: %s", alarm_id, state.value, window.message_label.text())

    def _on_shown(self, alarm_id: uuid.UUID) -> None:
        log.info("popup shown %s", alarm_id)
        self._send_receipt(alarm_id)

    def _answered(self, alarm_id: uuid.UUID, answer: Answer | None) -> None:
        if answer is not None:
            self._send_answer(alarm_id, answer)
            log.info("popup answered %s %s", alarm_id, answer.value)
        if answer is Answer.COMING:
            self._follow_sound()  # the popup stays, silent, for "Bin da"
            return
        self._forget(alarm_id)

    def _forget(self, alarm_id: uuid.UUID) -> None:
        popup = self.popups.pop(alarm_id, None)
        if popup is not None:
            self._dispose(popup)
        self._done.add(alarm_id)
        self._follow_sound()

    def _follow_sound(self) -> None:
        """The tone of the highest open level, repeating; silence once all are answered."""
        if self._sound is None:
            return
        ringing = [p.notify.level for p in self.popups.values() if not p.answered]
        if ringing:
            self._sound.play(max(ringing))
        else:
            self._sound.stop()

    def _dispose(self, popup: QWidget) -> None:
        # Qt deletes the widget from its event loop (never inside its own click
        # handler); the Python reference lives until then so Python never does.
        popup.hide()
        self._retired.append(popup)
        popup.destroyed.connect(lambda: self._retired.remove(popup))
        popup.deleteLater()

    def close_all(self) -> None:
        for popup in list(self.popups.values()):
            popup.answered = popup.finished = True
            self._dispose(popup)
        self.popups.clear()
        self._follow_sound()
        for window in list(self.all_clear.values()):
            self._dispose(window)
        self.all_clear.clear()
