"""The real agent link (agent/link.py) in the test process, with an alarm in its outbox."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pydantic import SecretStr

from agent.link import Link, LinkEvents
from agent.outbox import Outbox
from shared.domain import AlarmLevel, Trigger
from shared.protocol import AlarmStored, RaiseAlarm, utc_now
from tests.support.hub import RunningHub


class StoredEvent(LinkEvents):
    """Set once the hub has acknowledged an alarm as stored."""

    def __init__(self) -> None:
        self.stored = threading.Event()

    def alarm_stored(self, stored: AlarmStored) -> None:
        self.stored.set()


@asynccontextmanager
async def link_with_an_alarm_waiting(
    hub: RunningHub, folder: Path, workstation_id: str = "pc-1-01"
) -> AsyncIterator[tuple[Link, StoredEvent]]:
    """A demo PC's real link with an alarm in its outbox, not started yet (so it sends
    "alarm waiting" on its upgrade); stopped and its outbox closed afterwards."""
    config = hub.agent_config(workstation_id)
    outbox = Outbox(folder / f"outbox-{workstation_id}")
    outbox.add(
        RaiseAlarm(
            alarm_id=uuid.uuid4(), level=AlarmLevel.THREAT, trigger=Trigger.CLI, raised_at=utc_now()
        )
    )
    events = StoredEvent()
    link = Link(
        hub_urls=[hub.agent_ws_url],
        workstation_id=workstation_id,
        token=SecretStr(config["token"]),
        user=config["user"],
        outbox=outbox,
        events=events,
    )
    try:
        yield link, events
    finally:
        await asyncio.to_thread(link.stop)
        outbox.close()
