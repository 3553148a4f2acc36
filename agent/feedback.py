"""What the raiser's own screen may show: the truth about their alarms, and whether the PC is
protected, discreetly.

A Qt-free state machine fed by the link (and a clock). It follows EACH of the
raiser's open alarms through the confirmations the hub sends: stored, then
"zugestellt" (a popup on a screen or a console showing it), then "N kommen" or
names, "Sicherheitsdienst hat übernommen", "Hilfe ist da", resolved. Never "help
is coming" without a confirmation behind it; "nobody reached" (from the hub) is
told whatever the feedback policy, and stays until someone confirms.

The tray icon (``View``) follows the newest real alarm; the notice window
(agent/raiser_notice.py) lists every tracked alarm, drills marked as such.

Protection is a set of reasons (``Reason``); the PC is protected when the set is
empty. Every reason names one broken part of the trigger path, so the screen,
``silent-alarm-agent status`` and the hub's coverage board can say which.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from enum import StrEnum

from shared.domain import AlarmKind, AlarmState, Answer
from shared.protocol import RaiserStatus, Responder

STORED_DEADLINE = 3.0
"""Seconds after raising without AlarmStored until the raiser is told to use the phone."""


class Reason(StrEnum):
    """Why this PC is not protected; the values travel to the hub (``agent_health``)."""

    # A remote session that does not name its client device (xrdp): no room can be found,
    # and the host's is not the person's, so the agent does not connect (issue 19). First:
    # it explains the missing link.
    SESSION_UNMAPPED = "session_unmapped"
    NO_HUB = "no_hub"  # no hub reachable (the link is down)
    HUB_CANNOT_STORE = "hub_cannot_store"  # the hub says it cannot store alarms (a full disk)
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
    STORED = "stored"  # the hub has it; nobody has confirmed it on a screen yet
    DELIVERED = "delivered"  # "zugestellt": a recipient's popup or a console shows it
    COMING = "coming"  # at least one colleague answered "Ich komme"
    ACKNOWLEDGED = "acknowledged"  # "Sicherheitsdienst hat übernommen": an operator took it
    ARRIVED = "arrived"  # "Hilfe ist da"
    NOBODY_REACHED = "nobody_reached"  # the hub says: nobody reached, call for help by phone
    RESOLVED = "resolved"
    NOT_DELIVERED = "not_delivered"  # no AlarmStored in time; the link keeps retrying


OPEN_STATUSES = frozenset(
    {
        Status.SENT,
        Status.STORED,
        Status.DELIVERED,
        Status.COMING,
        Status.ACKNOWLEDGED,
        Status.ARRIVED,
        Status.NOBODY_REACHED,
        Status.NOT_DELIVERED,
    }
)
CONFIRMED = frozenset({Status.COMING, Status.ACKNOWLEDGED, Status.ARRIVED})
"""Someone confirmed help: a person said "Ich komme", security took it, or help is there."""


@dataclass(frozen=True)
class AlarmFeedback:
    """One of the raiser's alarms as the notice window shows it."""

    alarm_id: uuid.UUID
    status: Status
    raised_at: float  # the agent's clock (monotonic), for the deadline
    drill: bool = False
    coming: int = 0
    names: tuple[str, ...] = ()  # only with the "names" feedback policy
    acknowledged: bool = False  # security took it (also shown next to "N kommen")
    nobody_reached: bool = False
    wall: float = 0.0  # time.time() when raised (0: taken up after a restart, not known)
    # The hub sends raiser_status (issue 13): then alarm_update no longer decides for us.
    from_status: bool = False
    # No hub stored it: the neighbours' agents told directly, (acknowledged, asked) (issue 16).
    peers: tuple[int, int] | None = None

    @property
    def confirmed(self) -> bool:
        return self.status in CONFIRMED


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


def status_of(update: RaiserStatus, names: tuple[str, ...]) -> Status:
    """The highest confirmation the hub told; "nobody reached" only without one."""
    if update.state in (AlarmState.RESOLVED, AlarmState.CANCELLED):
        return Status.RESOLVED
    if update.state is AlarmState.ARRIVED or any(
        r.answer is Answer.ARRIVED for r in update.responders
    ):
        return Status.ARRIVED
    if update.state is AlarmState.ACKNOWLEDGED or update.acknowledged_by_security:
        return Status.ACKNOWLEDGED
    if update.coming or names:
        return Status.COMING
    if update.nobody_reached:
        return Status.NOBODY_REACHED
    if update.delivered or update.seen_by_console:
        return Status.DELIVERED
    return Status.STORED


def _coming_names(responders: list[Responder]) -> tuple[str, ...]:
    return tuple(r.name for r in responders if r.answer in (Answer.COMING, Answer.ARRIVED))


class Feedback:
    """State machine fed by the link (and a clock); the shell renders ``view`` and ``alarms``."""

    def __init__(self) -> None:
        self._alarms: dict[uuid.UUID, AlarmFeedback] = {}  # in the order raised
        self._connected = False
        self._self_test_failed = False
        self._local: set[Reason] = set()  # reasons found on this PC (hotkey, tray, room)

    @property
    def reasons(self) -> frozenset[Reason]:
        reasons = set(self._local)
        if not self._connected and Reason.SESSION_UNMAPPED not in self._local:
            reasons.add(Reason.NO_HUB)  # an unmappable session does not even try
        if self._self_test_failed:
            reasons.add(Reason.SELF_TEST_FAILED)
        return frozenset(reasons)

    @property
    def view(self) -> View:
        """The tray: the newest real alarm (drills never change the icon)."""
        real = [a for a in self._alarms.values() if not a.drill]
        newest = real[-1] if real else None
        status = newest.status if newest else Status.IDLE
        coming = newest.coming if newest else 0
        connected = self._connected and not self._self_test_failed
        return View(status, connected, coming, self.reasons)

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
    def alarms(self) -> tuple[AlarmFeedback, ...]:
        """Every tracked alarm, oldest first: open ones and those resolved since last cleared."""
        return tuple(self._alarms.values())

    @property
    def alarm_id(self) -> uuid.UUID | None:
        """The newest alarm tracked (real or drill)."""
        return next(reversed(self._alarms), None)

    def link_changed(self, connected: bool) -> View:
        self._connected = connected
        return self.view

    def self_test_result(self, passed: bool) -> View:
        """A failed self-test means "not protected" until a later one passes."""
        self._self_test_failed = not passed
        return self.view

    def raised(
        self, alarm_id: uuid.UUID, now: float, drill: bool = False, wall: float | None = None
    ) -> View:
        """A new alarm of ours; ``wall`` (default: now) says which alarm it is on the notice."""
        self.clear_resolved()  # a new alarm: the old all-clears have been seen
        wall = time.time() if wall is None else wall
        self._alarms[alarm_id] = AlarmFeedback(alarm_id, Status.SENT, now, drill=drill, wall=wall)
        return self.view

    def stored(self, alarm_id: uuid.UUID) -> View:
        alarm = self._alarms.get(alarm_id)
        if alarm is not None and alarm.status in (Status.SENT, Status.NOT_DELIVERED):
            self._alarms[alarm_id] = replace(alarm, status=Status.STORED)
        return self.view

    def peers_told(self, alarm_id: uuid.UUID, acknowledged: int, asked: int) -> View:
        """The alarm went to the neighbours directly; ``acknowledged`` of ``asked`` took it."""
        alarm = self._alarms.get(alarm_id)
        if alarm is not None:
            self._alarms[alarm_id] = replace(alarm, peers=(acknowledged, asked))
        return self.view

    def updated(
        self,
        alarm_id: uuid.UUID,
        state: AlarmState,
        responders: list[Responder],
        coming: int = 0,
    ) -> View:
        """The hub's ``alarm_update`` of one of our alarms (others are ignored).

        With the "count" policy ``coming`` is set and the responders list is empty;
        with "names" the list names who is coming; with "none" both are empty. A hub
        that sends ``raiser_status`` sends it first: then this update changes nothing.
        """
        alarm = self._alarms.get(alarm_id)
        if alarm is None or alarm.from_status:
            return self.view
        told = RaiserStatus(alarm_id=alarm_id, state=state, responders=responders, coming=coming)
        self._alarms[alarm_id] = self._told(alarm, told)
        return self.view

    def status(self, told: RaiserStatus) -> View:
        """The hub's ``raiser_status``: every confirmation, "nobody reached" included."""
        alarm = self._alarms.get(told.alarm_id) or self._taken_up(told)
        if alarm is None:
            return self.view
        self._alarms[told.alarm_id] = replace(self._told(alarm, told), from_status=True)
        return self.view

    @staticmethod
    def _told(alarm: AlarmFeedback, told: RaiserStatus) -> AlarmFeedback:
        names = _coming_names(told.responders)
        # Any word from the hub proves it has the alarm, even if AlarmStored got lost.
        return replace(
            alarm,
            status=status_of(told, names),
            coming=max(told.coming, len(names)),
            names=names,
            acknowledged=told.acknowledged_by_security or told.state is AlarmState.ACKNOWLEDGED,
            nobody_reached=told.nobody_reached,
        )

    def _taken_up(self, told: RaiserStatus) -> AlarmFeedback | None:
        """An open alarm of ours raised before this agent (re)started: the hub replays the
        raiser's status on connect, so a restart never leaves the raiser uninformed."""
        if told.state in (AlarmState.RESOLVED, AlarmState.CANCELLED):
            return None
        drill = told.kind is AlarmKind.DRILL
        alarm = AlarmFeedback(told.alarm_id, Status.STORED, raised_at=0.0, drill=drill)
        self._alarms[told.alarm_id] = alarm
        return alarm

    def tick(self, now: float) -> View:
        for alarm_id, alarm in list(self._alarms.items()):
            if alarm.status is Status.SENT and now - alarm.raised_at >= STORED_DEADLINE:
                self._alarms[alarm_id] = replace(alarm, status=Status.NOT_DELIVERED)
        return self.view

    def next_deadline(self, now: float) -> float | None:
        """Seconds until the next alarm still waiting for AlarmStored is past its deadline
        (0 if one is already), None if none is waiting: when ``tick`` must run again."""
        waiting = [a.raised_at for a in self._alarms.values() if a.status is Status.SENT]
        if not waiting:
            return None
        return max(0.0, min(waiting) + STORED_DEADLINE - now)

    def clear_resolved(self) -> None:
        """Forget alarms that are over (the raiser has seen their end)."""
        for alarm_id in [a.alarm_id for a in self._alarms.values() if a.status is Status.RESOLVED]:
            del self._alarms[alarm_id]

    def owns(self, alarm_id: uuid.UUID) -> bool:
        return alarm_id in self._alarms
