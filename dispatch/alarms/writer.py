"""The group commit: alarms raised at the same time are stored in one transaction and one fsync."""

from __future__ import annotations

import asyncio

from sqlalchemy import String, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.alarms.lifecycle import AlarmError
from dispatch.alarms.plan import INSERT_RECIPIENTS, NewAlarm, plan
from dispatch.alarms.reads import load_records
from dispatch.alarms.record import AlarmRecord
from dispatch.directory.identities import WorkstationView
from dispatch.routing.holder import RoutingHolder
from dispatch.store import sqlite_trips
from dispatch.store.audit import HEAD_HASH, AuditTrail
from dispatch.store.database import Database, core_table
from dispatch.store.models import Alarm, AuditEvent, TopologyVersion
from shared.protocol import RaiseAlarm

# The group commit's statements: Core, on the tables, built once. Building a
# statement, or the ORM's handling of one, costs more Python than running it.
_ALARMS, _VERSION = core_table(Alarm), core_table(TopologyVersion)
_INSERT_ALARMS = insert(_ALARMS)
_ALARM_IDS = bindparam("alarm_ids", type_=String, expanding=True)
_BATCH_READS = (
    select(_VERSION.c.version, HEAD_HASH, _ALARMS.c.id, _ALARMS.c.workstation_id)
    .select_from(_VERSION)
    .outerjoin(_ALARMS, _ALARMS.c.id.in_(_ALARM_IDS))
    .where(_VERSION.c.id == 1)
)
_OWNERS = select(_ALARMS.c.id, _ALARMS.c.workstation_id).where(_ALARMS.c.id.in_(_ALARM_IDS))

Stored = tuple[AlarmRecord, bool]
"""The record, and whether this call stored it (False: a retry of a stored alarm)."""


class PendingStore:
    """An alarm waiting for the next group commit, and the future its raiser awaits.

    ``announced`` may be set while it waits (``Hub.raise_alarm`` routes it from memory
    meanwhile): the group commit stores what it finds there when it plans the alarm, or
    routes it itself if it gets there first.
    """

    def __init__(
        self,
        message: RaiseAlarm,
        raiser: WorkstationView,
        raiser_name: str | None,
        announced: NewAlarm | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.message = message
        self.raiser = raiser
        self.raiser_name = raiser_name
        self.announced = announced
        self.result: asyncio.Future[Stored] = loop.create_future()

    def refuse(self, error: BaseException) -> None:
        if not self.result.done():  # its caller may have gone (cancelled) meanwhile
            self.result.set_exception(error)


class AlarmWriter:
    def __init__(self, db: Database, routing: RoutingHolder) -> None:
        self._db = db
        self._routing = routing
        self._queue: list[PendingStore] = []
        self._drainer: asyncio.Task[None] | None = None

    async def store(
        self,
        message: RaiseAlarm,
        raiser: WorkstationView,
        raiser_name: str | None,
        announced: NewAlarm | None = None,
    ) -> Stored:
        """Persist and route a raised alarm; returns (record, newly stored) after the commit.

        The alarm id is the idempotency key: a retry returns the stored record
        unchanged. The room is the hub's mapping of the workstation; what the
        agent claims is only written to the audit trail.

        Alarms raised at the same time share one transaction and one fsync (group
        commit): the first caller starts a drainer that writes whatever has queued
        up, batch after batch, and ends when the queue is empty.

        ``announced``: the alarm as ``plan.announce`` routed it ahead of the transaction
        (its popups are out); it is stored as announced unless the topology moved.
        """
        return await self.enqueue(message, raiser, raiser_name, announced).result

    def enqueue(
        self,
        message: RaiseAlarm,
        raiser: WorkstationView,
        raiser_name: str | None,
        announced: NewAlarm | None = None,
    ) -> PendingStore:
        """``store`` without waiting: the commit starts now, its outcome is ``.result``."""
        loop = asyncio.get_running_loop()
        pending = PendingStore(message, raiser, raiser_name, announced, loop)
        self._queue.append(pending)
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain(), name="alarm-writer")
        return pending

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                await self._store_batch(batch)
        finally:
            self._drainer = None

    async def _store_batch(self, batch: list[PendingStore]) -> None:
        written: list[tuple[PendingStore, Stored]] = []
        try:
            async with self._db.write(urgent=True) as session:
                written = await self._write_batch(session, batch)
        except Exception as failed:
            # Nothing of the batch was committed: every raiser is told, and retries.
            for item in batch:
                item.refuse(failed)
            return
        for item, result in written:  # only now, after the commit
            if not item.result.done():  # its caller may have gone (cancelled) meanwhile
                item.result.set_result(result)

    async def _write_batch(
        self, session: AsyncSession, batch: list[PendingStore]
    ) -> list[tuple[PendingStore, Stored]]:
        """One group commit: a fixed number of statements however many alarms it holds.

        A refused alarm (``no_drill``, another workstation's id) is answered at once
        and leaves the others of the batch untouched.
        """
        await AuditTrail.lock(session)  # first: on PostgreSQL it orders the instances
        ids = {str(item.message.alarm_id) for item in batch}
        read = _sqlite_batch_reads if self._db.is_sqlite else _batch_reads
        version, head, stored_owner = await read(session, ids)
        audit = AuditTrail.resume(session, head)
        routing = await self._routing.snapshot(session, version)
        fresh: dict[str, NewAlarm] = {}
        duplicates: list[PendingStore] = []
        written: list[tuple[PendingStore, Stored]] = []
        for item in batch:
            alarm_id, raiser_id = str(item.message.alarm_id), item.raiser.id
            owner = stored_owner.get(alarm_id) or (
                fresh[alarm_id].record.workstation_id if alarm_id in fresh else None
            )
            if owner is not None and owner != raiser_id:
                item.refuse(AlarmError("not_allowed", "alarm id belongs to another workstation"))
            elif alarm_id in stored_owner:
                duplicates.append(item)
            elif alarm_id in fresh:  # a retry that arrived while the first was queued
                written.append((item, (fresh[alarm_id].record, False)))
            else:
                try:
                    fresh[alarm_id] = await plan(
                        session,
                        routing,
                        audit,
                        item.message,
                        item.raiser,
                        item.raiser_name,
                        item.announced,
                    )
                except AlarmError as refused:  # raised before anything of it was kept
                    item.refuse(refused)
                    continue
                written.append((item, (fresh[alarm_id].record, True)))
        if duplicates:
            ids = {str(item.message.alarm_id) for item in duplicates}
            stored = await session.scalars(select(Alarm).where(Alarm.id.in_(ids)))
            records = {str(r.id): r for r in await load_records(session, list(stored))}
            written += [(item, (records[str(item.message.alarm_id)], False)) for item in duplicates]
        alarms = [new.row for new in fresh.values()]
        recipients = [row for new in fresh.values() for row in new.recipients]
        if self._db.is_sqlite:
            # The rows, the audit events and the COMMIT in one trip to the driver's thread.
            await sqlite_trips.write_and_commit(
                session,
                [(_INSERT_ALARMS, alarms), (INSERT_RECIPIENTS, recipients), audit.take_pending()],
            )
            return written
        if alarms:
            await session.execute(_INSERT_ALARMS, alarms)
        if recipients:
            await session.execute(INSERT_RECIPIENTS, recipients)
        return written


def _sqlite_batch_reads_sql(count: int) -> str:
    """``_BATCH_READS`` in plain SQL for ``count`` alarm ids (tests/storage/test_sqlite_trips.py
    holds the two to the same rows)."""
    events, alarms, version = AuditEvent.__tablename__, _ALARMS.name, _VERSION.name
    head = f"(SELECT e.hash FROM {events} AS e ORDER BY e.id DESC LIMIT 1)"  # noqa: S608
    ids = ", ".join("?" * count)  # the ids are bound; the names are the models' tables
    return (
        f"SELECT v.version, {head}, a.id, a.workstation_id FROM {version} AS v"  # noqa: S608
        f" LEFT OUTER JOIN {alarms} AS a ON a.id IN ({ids}) WHERE v.id = 1"
    )


async def _sqlite_batch_reads(
    session: AsyncSession, alarm_ids: set[str]
) -> tuple[int | None, str | None, dict[str, str]]:
    """``_batch_reads`` on SQLite: the same statement in one trip to the driver's thread
    (through SQLAlchemy's cursor it takes three)."""
    ids = list(alarm_ids)
    rows = await sqlite_trips.read(session, _sqlite_batch_reads_sql(len(ids)), ids)
    if not rows:
        return await _batch_reads(session, alarm_ids)  # no version row: the slow way, logged
    version, head = rows[0][0], rows[0][1]
    return version, head, {alarm_id: owner for *_, alarm_id, owner in rows if alarm_id is not None}


async def _batch_reads(
    session: AsyncSession, alarm_ids: set[str]
) -> tuple[int | None, str | None, dict[str, str]]:
    """What a group commit reads, in one statement: the topology version, the audit
    chain's head, and which of these alarm ids are stored already, by whom."""
    ids = {"alarm_ids": list(alarm_ids)}
    rows = (await session.execute(_BATCH_READS, ids)).all()
    if not rows:  # no version row (routing_snapshot.refreshed logs it): the rest alone
        head = await session.scalar(select(HEAD_HASH))
        owners = await session.execute(_OWNERS, ids)
        return None, head, {alarm_id: owner for alarm_id, owner in owners}
    version, head = rows[0][0], rows[0][1]
    return version, head, {alarm_id: owner for *_, alarm_id, owner in rows if alarm_id is not None}
