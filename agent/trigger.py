"""The ``trigger`` command: raise an alarm without the tray, for desktops where hotkeys fail."""

from __future__ import annotations

import logging
import threading
import uuid

from agent.config import AgentConfig
from agent.feedback import STORED_DEADLINE
from agent.link import Link, LinkEvents
from agent.outbox import Outbox
from shared.domain import AlarmLevel, Trigger
from shared.protocol import AlarmStored

log = logging.getLogger(__name__)


class _WaitForStored(LinkEvents):
    def __init__(self) -> None:
        self.alarm_id: uuid.UUID | None = None
        self.stored = threading.Event()

    def alarm_stored(self, stored: AlarmStored) -> None:
        if stored.alarm_id == self.alarm_id:
            self.stored.set()


def trigger_alarm(config: AgentConfig, level: AlarmLevel, timeout: float = STORED_DEADLINE) -> bool:
    """Queue an alarm, connect, and wait up to timeout for the hub to store it.

    If it is not stored in time the alarm stays in the shared outbox, and the
    running tray agent sends it on its next outbox scan.
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
        events.alarm_id = link.raise_alarm(level, Trigger.CLI).alarm_id  # on disk first
        link.start()
        stored = events.stored.wait(timeout)
    finally:
        link.stop()
        outbox.close()
    if not stored:
        log.warning(
            "alarm %s not stored within %.1f s; left in the outbox", events.alarm_id, timeout
        )
    return stored
