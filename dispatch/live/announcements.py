"""Alarms whose popups went out before their commit: what was announced, until it is stored."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from dispatch.alarms.plan import NewAlarm
from dispatch.alarms.record import AlarmRecord
from dispatch.directory.identities import WorkstationView
from shared.protocol import RaiseAlarm


@dataclass(eq=False)
class Announced:
    """One alarm routed from memory and told to its recipients and consoles, not stored yet.

    ``popups`` and ``deliveries`` are what was sent (``Hub._popups``), reused for the bus
    once it is stored. ``settled`` is set whenever no attempt to store it is running
    (``attempts``): an operator's or recipient's step on it waits for the commit in
    flight, not longer. ``retry`` is the hub's own storing after its raiser's failed.
    """

    new: NewAlarm
    message: RaiseAlarm
    raiser: WorkstationView
    raiser_name: str | None
    popups: list[str]
    deliveries: list[tuple[str, int]]
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    retry: asyncio.Task[None] | None = None
    _attempts: int = 0

    @property
    def record(self) -> AlarmRecord:
        return self.new.record

    @property
    def attempts(self) -> int:
        """Attempts to store it running now."""
        return self._attempts

    @attempts.setter
    def attempts(self, running: int) -> None:
        self._attempts = running
        if running > 0:
            self.settled.clear()
        else:
            self.settled.set()

    def attempt_ended(self) -> None:
        self.attempts = max(0, self._attempts - 1)


class Announcements:
    """The announced alarms of this instance, by id; an entry ends when the alarm is stored."""

    def __init__(self) -> None:
        self._by_id: dict[uuid.UUID, Announced] = {}

    def __contains__(self, alarm_id: object) -> bool:
        return alarm_id in self._by_id

    def __iter__(self) -> Iterator[Announced]:
        return iter(list(self._by_id.values()))

    def get(self, alarm_id: uuid.UUID) -> Announced | None:
        return self._by_id.get(alarm_id)

    def add(self, entry: Announced) -> None:
        self._by_id[entry.record.id] = entry

    def pop(self, alarm_id: uuid.UUID) -> Announced | None:
        """Ends the entry (stored, or given up); its retry stops before its next attempt
        (not cancelled: an attempt under way ends as the writer decides)."""
        entry = self._by_id.pop(alarm_id, None)
        if entry is not None:
            entry.settled.set()
        return entry

    def for_recipient(self, workstation_id: str) -> list[AlarmRecord]:
        """The announced alarms whose popup this workstation is to get."""
        return [
            e.record for e in self._by_id.values() if e.record.recipient(workstation_id) is not None
        ]

    def records(self) -> list[AlarmRecord]:
        return [e.record for e in self._by_id.values()]

    async def settled(self, alarm_id: uuid.UUID) -> None:
        """Returns once no commit of the alarm is in flight (at once if it is not announced)."""
        entry = self._by_id.get(alarm_id)
        if entry is not None:
            await entry.settled.wait()
