"""The alarm store: the one door the hub uses to persist, route, track and read alarms.

Each job is its own module; this façade only holds the state they share (the database,
the routing snapshot in memory, the group-commit queue, the welcome cache):

- ``alarm_writer``: the group commit of new alarms, ``alarm_plan`` routing each one
  (ahead of the transaction, from memory, where it can: ``announce``);
- ``alarm_receipts``: popups on screen and recipients' answers;
- ``alarm_transitions``: operators' acknowledge/arrive/resolve and the raiser's cancel,
  as the table in ``alarm_lifecycle`` allows;
- ``alarm_duress``: the raiser's duress cancel (open, level 3, security only);
- ``alarm_timers``: escalation, nobody reached, failed self-tests;
- ``alarm_reads``: records and what is still open.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from dispatch.alarms import duress as alarm_duress
from dispatch.alarms import plan as alarm_plan
from dispatch.alarms import reads as alarm_reads
from dispatch.alarms import receipts as alarm_receipts
from dispatch.alarms import timers as alarm_timers
from dispatch.alarms import transitions as alarm_transitions
from dispatch.alarms.lifecycle import Event
from dispatch.alarms.plan import NewAlarm
from dispatch.alarms.record import AlarmRecord, ReceiptOutcome, SelfTestResult
from dispatch.alarms.welcome_levels import WelcomeLevels
from dispatch.alarms.writer import AlarmWriter
from dispatch.directory.identities import OperatorView, WorkstationView
from dispatch.routing.holder import RoutingHolder
from dispatch.store.database import Database
from shared.domain import Answer
from shared.protocol import IncidentReport as Report
from shared.protocol import RaiseAlarm


class AlarmStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self.routing = RoutingHolder(db)
        self.levels = WelcomeLevels(db)
        self._writer = AlarmWriter(db, self.routing)
        self.store = self._writer.store
        self.enqueue = self._writer.enqueue

    # --- a new alarm ------------------------------------------------------------

    async def announce(
        self, message: RaiseAlarm, raiser: WorkstationView, raiser_name: str | None
    ) -> NewAlarm | None:
        """The alarm routed from the snapshot in memory before it is stored, for its popups
        to go out while it is committed; pass it to ``store`` to store it as announced.

        None if it must wait for its transaction: its id is stored already (a retry, never
        fanned out again), the snapshot is older than the store's topology (a PC just
        moved: its alarm must name the room it is in now), or routing it needs the store
        (``plan.announce``). Raises if the store cannot be read."""
        routing = self.routing.current
        if routing is None:
            return None
        stored, version = await alarm_reads.stored_and_version(self._db, message.alarm_id)
        if stored or version != routing.version:
            return None
        return alarm_plan.announce(routing, message, raiser, raiser_name)

    def announce_unchecked(
        self, message: RaiseAlarm, raiser: WorkstationView, raiser_name: str | None
    ) -> NewAlarm | None:
        """``announce`` from memory alone, for when the store cannot be read (then the
        alarm most likely cannot be stored now either, and its popups still go out)."""
        routing = self.routing.current
        return (
            None if routing is None else alarm_plan.announce(routing, message, raiser, raiser_name)
        )

    # --- what recipients tell -------------------------------------------------

    async def record_receipts(self, receipts: Collection[tuple[uuid.UUID, str]]) -> ReceiptOutcome:
        return await alarm_receipts.record_receipts(self._db, receipts)

    async def record_answer(
        self, alarm_id: uuid.UUID, workstation_id: str, answer: Answer, name: str
    ) -> AlarmRecord:
        return await alarm_receipts.record_answer(self._db, alarm_id, workstation_id, answer, name)

    # --- what people do ---------------------------------------------------------

    async def acknowledge(
        self, alarm_id: uuid.UUID, operator: str, via: str | None = None
    ) -> AlarmRecord:
        return await alarm_transitions.operator_transition(
            self._db, alarm_id, operator, Event.ACKNOWLEDGE, via=via
        )

    async def arrive(self, alarm_id: uuid.UUID, operator: str) -> AlarmRecord:
        return await alarm_transitions.operator_transition(
            self._db, alarm_id, operator, Event.ARRIVE
        )

    async def resolve(
        self, alarm_id: uuid.UUID, operator: str, report: Report | None = None
    ) -> AlarmRecord:
        return await alarm_transitions.operator_transition(
            self._db, alarm_id, operator, Event.RESOLVE, report
        )

    async def cancel(self, alarm_id: uuid.UUID, raiser: WorkstationView) -> AlarmRecord:
        return await alarm_transitions.cancel(self._db, alarm_id, raiser)

    async def cancel_under_duress(
        self, alarm_id: uuid.UUID, raiser: WorkstationView
    ) -> tuple[AlarmRecord, list[str]]:
        return await alarm_duress.cancel_under_duress(self._db, self.routing, alarm_id, raiser)

    async def console_seen(self, alarm_id: uuid.UUID, operator: str) -> AlarmRecord | None:
        return await alarm_transitions.console_seen(self._db, alarm_id, operator)

    # --- what the clock decides ---------------------------------------------------

    async def decide_reach(self, now: datetime) -> list[tuple[AlarmRecord, bool]]:
        return await alarm_timers.decide_reach(self._db, now)

    async def escalate_due(self, now: datetime) -> list[tuple[AlarmRecord, list[str]]]:
        return await alarm_timers.escalate_due(self._db, self.routing, now)

    async def expire_self_tests(self, now: datetime) -> list[SelfTestResult]:
        return await alarm_timers.expire_self_tests(self._db, now)

    # --- reads --------------------------------------------------------------------

    async def get(self, alarm_id: uuid.UUID) -> AlarmRecord | None:
        return await alarm_reads.get(self._db, alarm_id)

    async def open_alarms(self) -> list[AlarmRecord]:
        return await alarm_reads.open_alarms(self._db)

    async def recently_resolved(
        self, since: datetime, limit: int, operator: OperatorView
    ) -> list[AlarmRecord]:
        return await alarm_reads.recently_resolved(self._db, since, limit, operator)

    async def unconfirmed(self) -> dict[uuid.UUID, set[str]]:
        return await alarm_reads.unconfirmed(self._db)

    async def open_alarms_for_many(
        self, workstation_ids: Sequence[str]
    ) -> dict[str, list[AlarmRecord]]:
        return await alarm_reads.open_alarms_for_many(self._db, workstation_ids)
