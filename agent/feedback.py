"""What the raiser's own screen may show about their alarm: a discreet status, nothing loud."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from shared.domain import AlarmState, Answer
from shared.protocol import Responder

STORED_DEADLINE = 3.0
"""Seconds after raising without AlarmStored until the raiser is told to use the phone."""


class Status(StrEnum):
    IDLE = "idle"
    SENT = "sent"
    STORED = "stored"
    COMING = "coming"  # at least one colleague answered "Ich komme"
    RESOLVED = "resolved"
    NOT_DELIVERED = "not_delivered"  # no AlarmStored in time; the link keeps retrying


@dataclass(frozen=True)
class View:
    """Everything the tray shows: the raiser's alarm status and whether a hub is reachable.

    ``connected`` means a *working* path to a hub: the link is up and the last
    self-test did not fail. Either missing shows the same "not protected" state.
    """

    status: Status
    connected: bool
    coming: int = 0

    @property
    def protected(self) -> bool:
        return self.connected


class Feedback:
    """State machine fed by the link (and a clock); the shell renders its ``view``."""

    def __init__(self) -> None:
        self._alarm_id: uuid.UUID | None = None
        self._status = Status.IDLE
        self._raised_at = 0.0
        self._coming = 0
        self._connected = False
        self._self_test_failed = False

    @property
    def view(self) -> View:
        return View(self._status, self._connected and not self._self_test_failed, self._coming)

    @property
    def alarm_id(self) -> uuid.UUID | None:
        return self._alarm_id

    def link_changed(self, connected: bool) -> View:
        self._connected = connected
        return self.view

    def self_test_result(self, passed: bool) -> View:
        """A failed self-test means "not protected" until a later one passes."""
        self._self_test_failed = not passed
        return self.view

    def raised(self, alarm_id: uuid.UUID, now: float) -> View:
        self._alarm_id = alarm_id
        self._status = Status.SENT
        self._raised_at = now
        self._coming = 0
        return self.view

    def stored(self, alarm_id: uuid.UUID) -> View:
        if alarm_id == self._alarm_id and self._status in (Status.SENT, Status.NOT_DELIVERED):
            self._status = Status.STORED
        return self.view

    def updated(
        self,
        alarm_id: uuid.UUID,
        state: AlarmState,
        responders: list[Responder],
        coming: int = 0,
    ) -> View:
        """The hub's update; by default it sends the raiser a count and no names."""
        if alarm_id != self._alarm_id:
            return self.view
        if state in (AlarmState.RESOLVED, AlarmState.CANCELLED):
            self._status = Status.RESOLVED
            return self.view
        # An update proves the hub has the alarm, even if AlarmStored got lost.
        named = sum(1 for r in responders if r.answer in (Answer.COMING, Answer.ARRIVED))
        self._coming = max(coming, named)
        self._status = Status.COMING if self._coming else Status.STORED
        return self.view

    def tick(self, now: float) -> View:
        if self._status is Status.SENT and now - self._raised_at >= STORED_DEADLINE:
            self._status = Status.NOT_DELIVERED
        return self.view

    def owns(self, alarm_id: uuid.UUID) -> bool:
        return alarm_id == self._alarm_id
