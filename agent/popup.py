"""Popups for colleagues' alarms: always on top, big, answered with "Ich komme" / "Kann nicht".

After "Ich komme" the popup stays (silent) with "Bin da", so the responder can
say when they are at the room; that answer moves the alarm to "arrived". One
popup per raiser stands for all its open alarms ("3 Alarme aus Raum 1.01"; the
rules are agent/popup_groups.py): a flood of alarms from one PC is one window.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QFont, QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from agent.i18n import Language, level_name, text
from agent.popup_groups import GroupKey, Phase, PopupGroup, PopupGroups, Sends, StepMemory
from agent.popup_text import count_line, raiser_line, where_lines
from agent.sound import AlarmSound
from shared.domain import AlarmKind, AlarmLevel, AlarmState, Answer, Instruction
from shared.protocol import AlarmNotify, AlarmUpdate, Responder

log = logging.getLogger(__name__)

_COLORS = {
    AlarmLevel.SUPPORT: ("#fff4d6", "#5a4500"),
    AlarmLevel.THREAT: ("#ffd9b3", "#5a2a00"),
    AlarmLevel.DANGER: ("#c62828", "#ffffff"),
}


def popup_title(notify: AlarmNotify, language: Language, count: int = 1) -> str:
    """Always starts with "Stiller Alarm" so people (and tests) can find the window;
    a popup standing for several alarms says how many (also in the task bar)."""
    if notify.room is not None:
        title = text("popup.title", language, room=notify.room.number)
    else:
        title = text("popup.title_no_room", language, level=level_name(notify.level, language))
    if notify.kind is AlarmKind.DRILL:
        title = text("popup.title_drill", language, rest=title.split(" – ", 1)[1])
    if count > 1:
        return text("popup.title_count", language, title=title, count=count)
    return title


def responders_line(responders: list[Responder], language: Language) -> str:
    coming = [r.name for r in responders if r.answer is Answer.COMING]
    if not coming:
        return text("popup.no_responders", language)
    return text("popup.responders", language, names=", ".join(coming))


class AlarmPopup(QWidget):
    """One raiser's alarms (one or many). Level-3 STAY_AWAY popups offer only "Verstanden".

    ``answered``: nothing left to answer here (the popup no longer rings).
    ``on_the_way``: the answer was "Ich komme"; the popup now offers "Bin da".
    ``finished``: nothing more will be answered here (closed, or "Bin da" given).
    ``notify`` is the alarm the popup shows: the highest level of the raiser's open ones.
    """

    def __init__(
        self,
        notify: AlarmNotify,
        *,
        language: Language,
        on_answer: Callable[[uuid.UUID, Answer | None], None],
        on_shown: Callable[[uuid.UUID], None],
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
        self.count = 1
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
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
        self.no_hub_label.setVisible(False)
        layout.addWidget(self.no_hub_label)
        self.level_label = self._label("", 30, bold=True)
        layout.addWidget(self.level_label)
        # Several alarms of one raiser: how many, right under the level.
        self.count_label = self._label("", 20, bold=True)
        layout.addWidget(self.count_label)
        self.where_labels: list[QLabel] = []
        self._where_lines: list[str] = []
        if notify.room is not None:
            self._where_lines = where_lines(notify.room, language)
            for index, line in enumerate(self._where_lines):
                label = self._label(line, 22 if index == 0 else 16, bold=index == 0)
                self.where_labels.append(label)
                layout.addWidget(label)
        raiser = raiser_line(notify, language)
        self.raiser_label: QLabel | None = None
        if raiser is not None:
            self.raiser_label = self._label(raiser, 16)
            layout.addWidget(self.raiser_label)
        self._stay_away = notify.instruction is Instruction.STAY_AWAY
        self.instruction_label = self._label("", 20, bold=self._stay_away)
        layout.addWidget(self.instruction_label)
        self.responders_label = self._label("", 16)
        layout.addWidget(self.responders_label)
        # Nobody is meant to go to a STAY_AWAY alarm; "nobody on the way" would mislead.
        self.responders_label.setVisible(not self._stay_away)

        buttons = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        if self._stay_away:
            self._button(buttons, "popup.understood", None)
        else:
            self._button(buttons, "popup.coming", Answer.COMING)
            self._button(buttons, "popup.cannot", Answer.CANNOT)
            self._button(buttons, "popup.arrived", Answer.ARRIVED)
        layout.addLayout(buttons)
        self.setMinimumWidth(560)
        # What the popup says, for the log; the raiser's name stays out of it.
        self.shown_lines: list[str] = []
        self.show_alarms(notify, 1, Phase.ASK, notify.responders)

    def show_alarms(
        self, top: AlarmNotify, count: int, phase: Phase, responders: list[Responder]
    ) -> None:
        """Show the raiser's alarms as they stand: the highest level's colours, level and
        instruction (level 3 wins), how many, who is coming, and what may be answered."""
        self.notify, self.count = top, count
        self.answered = phase is not Phase.ASK
        self.on_the_way = phase is Phase.ON_THE_WAY
        self.setWindowTitle(popup_title(top, self._language, count))
        background, foreground = _COLORS[top.level]
        self.setStyleSheet(
            f"AlarmPopup {{ background: {background}; }} QLabel {{ color: {foreground}; }}"
        )
        self.level_label.setText(level_name(top.level, self._language))
        counted = count_line(top, count, self._language)
        self.count_label.setText(counted or "")
        self.count_label.setVisible(counted is not None)
        if self.on_the_way:
            instruction = text("popup.on_the_way", self._language)
        else:
            instruction = text(f"popup.{top.instruction.value}", self._language)
        self.instruction_label.setText(instruction)
        self.responders_label.setText(responders_line(responders, self._language))
        arrived = text("popup.arrived", self._language).replace("&", "")
        for name, button in self.buttons.items():
            button.setVisible((name == arrived) == self.on_the_way)
        no_hub = [self.no_hub_label.text()] if not self.no_hub_label.isHidden() else []
        self.shown_lines = [*no_hub, self.level_label.text(), *([counted] if counted else [])]
        self.shown_lines += [*self._where_lines, instruction]
        self.fit_text()

    def mark_no_hub(self, marked: bool) -> None:
        """ "Zentrale nicht erreichbar" above the level while no alarm shown came from a hub."""
        if marked == self.no_hub_label.isHidden():
            self.no_hub_label.setVisible(marked)
            if marked:
                self.shown_lines.insert(0, self.no_hub_label.text())
            elif self.shown_lines[:1] == [self.no_hub_label.text()]:
                del self.shown_lines[0]
            self.fit_text()

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
        # The manager answers each alarm of the raiser, then re-renders or closes us.
        self._on_answer(self.notify.alarm_id, answer)

    def dismiss(self) -> None:
        """Closed by the agent (all answered, all-clear, shutdown): reports nothing."""
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
    """One popup per raiser, one receipt and one answer per alarm (agent/popup_groups.py).

    The hub re-sends active alarms on every reconnect: a known alarm is confirmed
    again and counted once. ``popups`` maps each alarm on screen to its raiser's popup.
    """

    def __init__(
        self,
        *,
        language: Language,
        send_receipt: Callable[[uuid.UUID], None],
        send_answer: Callable[[uuid.UUID, Answer], None],
        sound: AlarmSound | None = None,
        memory: StepMemory | None = None,
    ) -> None:
        self._language = language
        self._sound = sound  # one tone, the highest level still unanswered (agent/sound.py)
        self._send_receipt = send_receipt
        self._send_answer = send_answer
        self.groups = PopupGroups(memory)
        self.windows: dict[GroupKey, AlarmPopup] = {}
        self._retired: list[QWidget] = []
        self.all_clear: dict[uuid.UUID, AllClearPopup] = {}  # by the alarm that ended its group
        self._all_clear_of: dict[GroupKey, uuid.UUID] = {}
        self._no_hub: set[uuid.UUID] = set()  # alarms only a neighbour's agent sent (issue 16)

    @property
    def popups(self) -> dict[uuid.UUID, AlarmPopup]:
        """Every alarm whose raiser's popup is on screen, to that popup."""
        return {
            alarm_id: window
            for key, window in self.windows.items()
            for alarm_id in self.groups.groups[key].members
        }

    def show(self, notify: AlarmNotify, *, no_hub: bool = False) -> None:
        """``no_hub``: a neighbour's agent sent it directly (issue 16); the popup is marked
        until the hub sends the same alarm, which then joins it as a known one."""
        alarm_id = notify.alarm_id
        if no_hub and not self.groups.knows(alarm_id):
            self._no_hub.add(alarm_id)
        elif not no_hub and alarm_id in self._no_hub:
            self._no_hub.discard(alarm_id)
            log.info("popup %s: the hub has it now", alarm_id)
            known = self.groups.group_of(alarm_id)
            if known is not None:
                self._render(known)
        result = self.groups.add(notify)
        if isinstance(result, Sends):  # withdrawn or resolved: confirmed, nothing shown
            self._send(result)
            return
        group = result.group
        if result.present:
            window = self._render(group)
            if window is not None:
                window.present()
        if result.recalled:
            log.info("popup recalled %s %s", notify.alarm_id, group.members[notify.alarm_id].step)
        elif result.new:
            window = self.windows.get(group.key)
            lines = window.shown_lines if window is not None else []
            log.info("popup text %s: %s", notify.alarm_id, " | ".join(lines))
            for alarm_id in result.sends.receipts:  # joined a popup already on screen
                log.info("popup shown %s", alarm_id)
        self._send(result.sends)
        self._follow_sound()

    def update(self, update: AlarmUpdate) -> bool:
        """Apply an update to a popup; False if no popup of ours knows this alarm.

        A resolved or withdrawn alarm leaves its raiser's popup; when none is left
        open the popup closes and one all-clear says so, also to those who already
        answered or dismissed it: someone who locked their door must be told.
        """
        result = self.groups.update(update)
        if result is None:
            return self.groups.knows(update.alarm_id)
        self._render(result.group)
        if result.all_clear is not None:
            self._show_all_clear(result.group, update.alarm_id, result.all_clear)
        self._follow_sound()
        return True

    def _render(self, group: PopupGroup) -> AlarmPopup | None:
        """The group's window as the group stands: opened, redrawn or closed."""
        window = self.windows.get(group.key)
        if group.phase is Phase.CLOSED or not group.members:
            if window is not None:
                del self.windows[group.key]
                window.dismiss()
                self._dispose(window)
            return None
        top = group.top
        if window is None:
            window = AlarmPopup(
                top,
                language=self._language,
                on_answer=lambda _alarm_id, answer: self._answered(group.key, answer),
                on_shown=lambda _alarm_id: self._on_shown(group.key),
            )
            self.windows[group.key] = window
        window.show_alarms(top, group.count, group.phase, group.coming_names())
        window.mark_no_hub(any(alarm_id in self._no_hub for alarm_id in group.members))
        return window

    def _show_all_clear(self, group: PopupGroup, alarm_id: uuid.UUID, state: AlarmState) -> None:
        notify = group.sample
        if notify is None:
            return
        previous_id = self._all_clear_of.pop(group.key, None)  # a withdrawal, then the resolve
        previous = self.all_clear.pop(previous_id, None) if previous_id else None
        if previous is not None:
            self._dispose(previous)
        window = AllClearPopup(notify, state, language=self._language)
        self.all_clear[alarm_id] = window
        if state is AlarmState.CANCELLED:
            self._all_clear_of[group.key] = alarm_id
        window.show()
        window.raise_()
        # The text names at most a room, never a person: it may go into the log.
        log.info("all clear shown %s %s: %s", alarm_id, state.value, window.message_label.text())

    def _on_shown(self, key: GroupKey) -> None:
        receipts = self.groups.shown(key)
        for alarm_id in receipts:
            log.info("popup shown %s", alarm_id)
        self._send(Sends(receipts=receipts))

    def _answered(self, key: GroupKey, answer: Answer | None) -> None:
        sends = self.groups.answer(key, answer)
        group = self.groups.groups.get(key)
        if group is not None:
            self._render(group)
        self._send(sends)
        self._follow_sound()

    def _send(self, sends: Sends) -> None:
        for alarm_id in sends.receipts:
            self._send_receipt(alarm_id)
        for alarm_id, answer in sends.answers:
            self._send_answer(alarm_id, answer)
            log.info("popup answered %s %s", alarm_id, answer.value)

    def _follow_sound(self) -> None:
        """One tone, of the highest level still unanswered, repeating; then silence."""
        if self._sound is None:
            return
        level = self.groups.ringing_level()
        if level is not None:
            self._sound.play(level)
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
        for window in list(self.windows.values()):
            window.answered = window.finished = True
            self._dispose(window)
        self.windows.clear()
        for key in list(self.groups.groups):
            self.groups.answer(key, None)
        self._follow_sound()
        for notice in list(self.all_clear.values()):
            self._dispose(notice)
        self.all_clear.clear()
