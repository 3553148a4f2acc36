"""The tray's drill entry: a drill alarm through the running agent's link, and its outcome.

"Übungsalarm auslösen" raises a level-2 alarm with ``kind=drill``; the hub
accepts it only while a drill an admin scheduled runs at the site. A drill never
changes the tray icon, which is about real alarms only: its outcome is shown in
a small window of its own, marked ÜBUNG, so it cannot be mistaken for an alarm
and a refused drill is never silent.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from agent.deadline_timer import call_after
from agent.feedback import STORED_DEADLINE
from agent.i18n import Language, text
from agent.message_window import MessageWindow
from shared.domain import AlarmKind, AlarmLevel
from shared.protocol import AlarmStored, RaiseAlarm

log = logging.getLogger(__name__)

DRILL_LEVEL = AlarmLevel.THREAT
"""Drills practise the common case: come to the room, the escalation runs."""


class DrillControl:
    """Raises drills from the tray menu and shows each one's outcome (Qt thread)."""

    def __init__(
        self,
        *,
        language: Language,
        raise_alarm: Callable[[AlarmLevel, AlarmKind], RaiseAlarm],
        deadline: float = STORED_DEADLINE,
    ) -> None:
        self._language = language
        self._raise = raise_alarm
        self._deadline = deadline
        self._waiting: set[uuid.UUID] = set()  # raised here, neither stored nor refused yet
        self.window: MessageWindow | None = None  # made on first use: most PCs never drill

    def raise_drill(self) -> None:
        alarm = self._raise(DRILL_LEVEL, AlarmKind.DRILL)
        self._waiting.add(alarm.alarm_id)
        self._show("drill.sending")
        call_after(self._deadline, lambda: self._late(alarm.alarm_id))

    def stored(self, stored: AlarmStored) -> None:
        if stored.alarm_id in self._waiting:
            self._waiting.discard(stored.alarm_id)
            self._show("drill.stored")

    def refused(self, alarm: RaiseAlarm) -> None:
        """The hub runs no drill here. Shown for a `trigger --drill` this agent delivered too."""
        self._waiting.discard(alarm.alarm_id)
        self._show("drill.refused")

    def _late(self, alarm_id: uuid.UUID) -> None:
        # Still in the outbox and still being sent; stored or refused updates the window.
        if alarm_id in self._waiting:
            self._show("drill.not_delivered")

    def _show(self, message_id: str) -> None:
        message = text(message_id, self._language)
        log.info("drill window: %s", message)
        if self.window is None:
            self.window = MessageWindow(text("drill.title", self._language), self._language)
        self.window.present(message)
