"""The ``trigger`` command: raise an alarm without the tray, for desktops where hotkeys fail."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass

from agent import remote_session
from agent.config import AgentConfig
from agent.feedback import STORED_DEADLINE, Feedback, Status
from agent.feedback_text import state_text
from agent.i18n import Language
from agent.link import LinkEvents, link_for
from agent.outbox import Outbox
from shared.domain import AlarmKind, AlarmLevel, Trigger
from shared.protocol import AlarmStored, AlarmUpdate, RaiseAlarm, RaiserStatus

log = logging.getLogger(__name__)


class _WaitForStored(LinkEvents):
    def __init__(self) -> None:
        self.alarm_id: uuid.UUID | None = None
        self.stored = threading.Event()
        self.refused: str | None = None  # why the hub refused a drill
        # After stored, the hub's updates of this alarm (--wait-for-help).
        self.feedback = Feedback()
        self.decided = threading.Event()  # someone confirmed help, or nobody was reached
        self._lock = threading.Lock()

    def alarm_update(self, update: AlarmUpdate) -> None:
        # A hub before issue 13 sends only this; a later one sends raiser_status first.
        if update.alarm_id == self.alarm_id:
            with self._lock:
                self.feedback.updated(
                    update.alarm_id, update.state, update.responders, update.coming
                )
            self._check()

    def raiser_status(self, status: RaiserStatus) -> None:
        if status.alarm_id == self.alarm_id:
            with self._lock:
                self.feedback.status(status)
            self._check()

    def _check(self) -> None:
        with self._lock:
            (alarm,) = self.feedback.alarms
        log.info("alarm %s: %s", alarm.alarm_id, alarm.status)
        if alarm.confirmed or alarm.status in (Status.NOBODY_REACHED, Status.RESOLVED):
            self.decided.set()

    def watch(self, alarm_id: uuid.UUID) -> None:
        self.alarm_id = alarm_id
        with self._lock:
            self.feedback.raised(alarm_id, time.monotonic())

    def alarm_stored(self, stored: AlarmStored) -> None:
        if stored.alarm_id == self.alarm_id:
            with self._lock:
                self.feedback.stored(stored.alarm_id)
            self.stored.set()

    def drill_refused(self, alarm: RaiseAlarm, message: str) -> None:
        if alarm.alarm_id == self.alarm_id:
            self.refused = message
            self.stored.set()  # the wait is over: the answer is no


class DrillRefused(Exception):
    """No drill is running at this site; the drill alarm was not stored and is gone."""


def trigger_alarm(
    config: AgentConfig,
    level: AlarmLevel,
    timeout: float = STORED_DEADLINE,
    kind: AlarmKind = AlarmKind.ALARM,
) -> bool:
    """Queue an alarm, connect, and wait up to timeout for the hub to store it.

    If it is not stored in time the alarm stays in the shared outbox, and the
    running tray agent sends it on its next outbox scan. A drill the hub refuses
    (no drill scheduled) raises DrillRefused.
    """
    return raise_and_wait(config, level, timeout, kind).stored


@dataclass(frozen=True)
class Outcome:
    """What ``trigger`` learnt: stored or not, and with --wait-for-help whether help is
    confirmed (``help`` the words: "1 kommt", "Sicherheitsdienst hat übernommen")."""

    stored: bool
    alarm_id: uuid.UUID | None = None
    help: str | None = None


def raise_and_wait(
    config: AgentConfig,
    level: AlarmLevel,
    timeout: float = STORED_DEADLINE,
    kind: AlarmKind = AlarmKind.ALARM,
    wait_for_help: float | None = None,
) -> Outcome:
    """``trigger_alarm``; with ``wait_for_help`` it then waits that long for a confirmation
    on the same connection. No help within it, or "nobody reached": ``help`` is None."""
    outbox = Outbox(config.data_dir)
    events = _WaitForStored()
    link = link_for(config, outbox, events, remote_session.current())
    try:
        events.watch(link.raise_alarm(level, Trigger.CLI, kind).alarm_id)  # on disk first
        link.start()
        stored = events.stored.wait(timeout)
        helped = None
        if stored and events.refused is None and wait_for_help is not None:
            helped = _help(events, wait_for_help, config.language)
    finally:
        link.stop()
        outbox.close()
    if events.refused is not None:
        raise DrillRefused(events.refused)
    if not stored:
        log.warning(
            "alarm %s not stored within %.1f s; left in the outbox", events.alarm_id, timeout
        )
    return Outcome(stored, events.alarm_id, helped)


def wait_for_help(config: AgentConfig, alarm_id: uuid.UUID, seconds: float) -> str | None:
    """Follows a stored alarm on a connection of its own (the running agent raised it).

    The hub replays the raiser's view of every open alarm of this workstation when it
    connects, so a confirmation given before we connected counts too.
    """
    outbox = Outbox(config.data_dir)
    events = _WaitForStored()
    events.watch(alarm_id)
    events.feedback.stored(alarm_id)
    link = link_for(config, outbox, events, remote_session.current())
    try:
        link.start()
        return _help(events, seconds, config.language)
    finally:
        link.stop()
        outbox.close()


def _help(events: _WaitForStored, seconds: float, language: Language) -> str | None:
    """The words of the confirmation, or None: nobody reached, resolved, or time is up."""
    events.decided.wait(seconds)
    (alarm,) = events.feedback.alarms
    if alarm.confirmed:
        return state_text(alarm, language)
    log.warning("alarm %s: no help confirmed (%s)", alarm.alarm_id, alarm.status)
    return None
