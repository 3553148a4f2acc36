"""The ``trigger`` command: raise an alarm without the tray, for desktops where hotkeys fail."""

from __future__ import annotations

import logging
import threading
import uuid

from agent.config import AgentConfig
from agent.feedback import STORED_DEADLINE
from agent.link import Link, LinkEvents
from agent.outbox import Outbox
from shared.domain import AlarmKind, AlarmLevel, Trigger
from shared.protocol import AlarmStored, RaiseAlarm

log = logging.getLogger(__name__)


class _WaitForStored(LinkEvents):
    def __init__(self) -> None:
        self.alarm_id: uuid.UUID | None = None
        self.stored = threading.Event()
        self.refused: str | None = None  # why the hub refused a drill

    def alarm_stored(self, stored: AlarmStored) -> None:
        if stored.alarm_id == self.alarm_id:
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
    outbox = Outbox(config.data_dir)
    events = _WaitForStored()
    link = Link(
        hub_urls=config.hub_urls,
        workstation_id=config.workstation_id,
        token=config.token,
        user=config.user,
        outbox=outbox,
        events=events,
    )
    try:
        events.alarm_id = link.raise_alarm(level, Trigger.CLI, kind).alarm_id  # on disk first
        link.start()
        stored = events.stored.wait(timeout)
    finally:
        link.stop()
        outbox.close()
    if events.refused is not None:
        raise DrillRefused(events.refused)
    if not stored:
        log.warning(
            "alarm %s not stored within %.1f s; left in the outbox", events.alarm_id, timeout
        )
    return stored
