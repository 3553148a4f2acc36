"""What the raiser's own screen may show: a discreet alarm status and whether the PC is protected.

Protection is a set of reasons (``Reason``); the PC is protected when the set is
empty. Every reason names one broken part of the trigger path, so the screen,
``silent-alarm-agent status`` and the hub's coverage board can say which.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from shared.domain import AlarmState, Answer
from shared.protocol import Responder

STORED_DEADLINE = 3.0
"""Seconds after raising without AlarmStored until the raiser is told to use the phone."""


class Reason(StrEnum):
    """Why this PC is not protected; the values travel to the hub (``agent_health``)."""

    NO_HUB = "no_hub"  # no hub reachable (the link is down)
    HOTKEY_UNAVAILABLE = "hotkey_unavailable"  # the chord could not be registered
    NO_TRAY = "no_tray"  # no tray host: no icon to click, no status to see
    NO_ROOM = "no_room"  # the hub knows no room for this PC: helpers would not know where
    SELF_TEST_FAILED = "self_test_failed"  # the last end-to-end self-test failed


REASON_ORDER: tuple[Reason, ...] = tuple(Reason)
"""The order reasons are shown in: the link first, it explains most of the others."""


def ordered(reasons: frozenset[Reason]) -> list[Reason]:
    return [reason for reason in REASON_ORDER if reason in reasons]


class Status(StrEnum):
    IDLE = "idle"
    SENT = "sent"
    STORED = "stored"
    COMING = "coming"  # at least one colleague answered "Ich komme"
    RESOLVED = "resolved"
    NOT_DELIVERED = "not_delivered"  # no AlarmStored in time; the link keeps retrying


@dataclass(frozen=True)
class View:
    """Everything the tray shows: the raiser's alarm status and whether the PC is protected.

    ``connected`` means a *working* path to a hub: the link is up and the last
    self-test did not fail. ``reasons`` lists every broken part (those two
    included); the PC is protected only when connected and there is none.
    """

    status: Status
    connected: bool
    coming: int = 0
    reasons: frozenset[Reason] = frozenset()

    @property
    def protected(self) -> bool:
        return self.connected and not self.reasons


class Feedback:
    """State machine fed by the link (and a clock); the shell renders its ``view``."""

    def __init__(self) -> None:
        self._alarm_id: uuid.UUID | None = None
        self._status = Status.IDLE
        self._raised_at = 0.0
        self._coming = 0
        self._connected = False
        self._self_test_failed = False
        self._local: set[Reason] = set()  # reasons found on this PC (hotkey, tray, room)

    @property
    def reasons(self) -> frozenset[Reason]:
        reasons = set(self._local)
        if not self._connected:
            reasons.add(Reason.NO_HUB)
        if self._self_test_failed:
            reasons.add(Reason.SELF_TEST_FAILED)
        return frozenset(reasons)

    @property
    def view(self) -> View:
        connected = self._connected and not self._self_test_failed
        return View(self._status, connected, self._coming, self.reasons)

    def reason(self, reason: Reason, present: bool) -> View:
        """A part of the trigger path broke (present) or works again."""
        if reason in (Reason.NO_HUB, Reason.SELF_TEST_FAILED):
            raise ValueError(f"{reason} follows link_changed / self_test_result")
        if present:
            self._local.add(reason)
        else:
            self._local.discard(reason)
        return self.view

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
