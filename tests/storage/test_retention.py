"""Retention on every backend: what goes, what stays, and that the audit chain still verifies.

The clock is injected (``now`` years after the rows were written) instead of waiting years.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, func, insert, select

from dispatch.alarms.retention import PRUNED_ACTION, RetentionPolicy, prune
from dispatch.alarms.retention_job import DailyPruning
from dispatch.directory.site_scope import EVERY_SITE
from dispatch.directory.site_setup import create_building, create_floor, create_room, create_site
from dispatch.directory.workstations import add_workstation
from dispatch.store import audit
from dispatch.store.audit import PRUNED, AuditTrail, event_hash
from dispatch.store.database import Database
from dispatch.store.models import (
    Alarm,
    AlarmRecipient,
    AuditEvent,
    ChannelDelivery,
    IncidentReport,
)
from shared.protocol import utc_now
from tests.support.waiting import until

KEY = secrets.token_bytes(32)
POLICY = RetentionPolicy(alarms_days=730, self_tests_days=30, audit_days=1095)
ACTOR = "test"


@pytest.fixture
async def keyed(store_url: str) -> AsyncIterator[Database]:
    """The store as the hub opens it: every event keyed with the audit key."""
    database = Database(store_url, audit_key=KEY)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def now() -> datetime:
    """Past the audit retention of every event the set-up writes (they carry the real time)."""
    return utc_now() + timedelta(days=1100)


async def a_workstation(db: Database) -> None:
    site = (await create_site(db, ACTOR, "Jobcenter Nord", "", scope=EVERY_SITE)).id
    house = await create_building(db, ACTOR, site, "Haus A", scope=EVERY_SITE)
    floor = (await create_floor(db, ACTOR, house.id, "EG", scope=EVERY_SITE)).id
    room = (await create_room(db, ACTOR, floor, "R-1", "Raum 1", scope=EVERY_SITE)).id
    await add_workstation(db, ACTOR, "pc-1", site, room, "t-1", display_name="Frau Geheim")


async def add_alarm(
    db: Database, raised_at: datetime, *, state: str = "resolved", kind: str = "alarm"
) -> str:
    """An alarm as the hub stores it, with a recipient's answer and an incident report."""
    alarm_id = str(uuid.uuid4())
    resolved_at = raised_at + timedelta(minutes=10) if state == "resolved" else None
    async with db.write() as session:
        session.add(
            Alarm(
                id=alarm_id,
                workstation_id="pc-1",
                level=2,
                trigger="hotkey",
                state=state,
                raiser_name="Frau Geheim",
                kind=kind,
                raised_at=raised_at,
                stored_at=raised_at,
                resolved_by="Operator Olaf" if resolved_at else None,
                resolved_at=resolved_at,
            )
        )
        await session.flush()
        session.add(
            AlarmRecipient(
                alarm_id=alarm_id,
                workstation_id="pc-1",
                instruction="come_help",
                with_location=True,
                answer="coming",
                responder_name="Responder Rita",
            )
        )
        session.add(  # issue 20: the e-mail to the Wachleitung, with its address
            ChannelDelivery(
                idempotency_key=str(uuid.uuid4()),
                alarm_id=alarm_id,
                recipient_id=1,
                channel="email",
                address="wachleitung@amt.example",
                audience="security",
                state="sent",
                due_at=raised_at,
                created_at=raised_at,
            )
        )
        if kind == "alarm":
            session.add(
                IncidentReport(
                    alarm_id=alarm_id,
                    assessed_level=2,
                    notes="Herr Besucher schrie",
                    written_by="Operator Olaf",
                    written_at=raised_at,
                )
            )
    return alarm_id


async def alarm_ids(db: Database) -> set[str]:
    async with db.read() as session:
        return set(await session.scalars(select(Alarm.id)))


async def count(
    db: Database, model: type[AlarmRecipient] | type[IncidentReport] | type[ChannelDelivery]
) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def events(db: Database) -> list[AuditEvent]:
    async with db.read() as session:
        return list(await session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


async def chain(db: Database) -> list[tuple[int, str]]:
    return [(e.id, e.hash) for e in await events(db)]


async def append_at(db: Database, at: datetime, action: str = "later") -> None:
    async with db.write() as session:
        (await AuditTrail.open(session)).append(ACTOR, action, at=at)


async def test_prune_deletes_old_finished_alarms_and_self_tests_and_keeps_the_rest(
    keyed: Database, now: datetime
) -> None:
    await a_workstation(keyed)
    old = now - timedelta(days=731)
    gone = {
        await add_alarm(keyed, old),
        await add_alarm(keyed, old, kind="drill"),
        await add_alarm(keyed, now - timedelta(days=31), kind="self_test"),
    }
    kept = {
        await add_alarm(keyed, now - timedelta(days=729)),  # inside the retention
        await add_alarm(keyed, old - timedelta(days=365), state="active"),  # open: never
        await add_alarm(keyed, old, state="acknowledged"),
        await add_alarm(keyed, old, state="cancelled"),  # security still follows it up
        await add_alarm(keyed, now - timedelta(days=29), kind="self_test"),
    }
    dry = await prune(keyed, POLICY, now=now, actor=ACTOR, dry_run=True)
    assert (dry.alarms, dry.self_tests) == (2, 1)
    assert await alarm_ids(keyed) == gone | kept  # a dry run deletes nothing

    done = await prune(keyed, POLICY, now=now, actor=ACTOR)
    assert (done.alarms, done.self_tests) == (2, 1)
    assert await alarm_ids(keyed) == kept
    assert await count(keyed, AlarmRecipient) == len(kept)  # answers and names went along
    assert await count(keyed, ChannelDelivery) == len(kept)  # and the e-mail addresses
    assert await count(keyed, IncidentReport) == 4  # the kept real alarms' reports
    record = next(e for e in await events(keyed) if e.action == PRUNED_ACTION)
    assert json.loads(record.detail) == {
        "alarms": 2,
        "self_tests": 1,
        "retain_alarms_days": 730,
        "retain_self_tests_days": 30,
    }  # counts only: nobody's name
    assert (await audit.verify(keyed, KEY)).broken_at is None


async def test_prune_removes_old_audit_events_and_verify_starts_after_them(
    keyed: Database, now: datetime
) -> None:
    await a_workstation(keyed)
    before = await events(keyed)
    await append_at(keyed, now - timedelta(days=1))  # newer than the retention: kept
    dry = await prune(keyed, POLICY, now=now, actor=ACTOR, dry_run=True)
    assert (dry.audit_events, dry.audit_up_to) == (len(before), before[-1].id)
    assert len(await events(keyed)) == len(before) + 1

    done = await prune(keyed, POLICY, now=now, actor=ACTOR)
    assert (done.audit_events, done.audit_up_to) == (len(before), before[-1].id)
    left = await events(keyed)
    assert [e.action for e in left] == ["later", PRUNED]
    assert json.loads(left[-1].detail) == {
        "up_to": before[-1].id,
        "hash": before[-1].hash,
        "events": len(before),
    }
    verdict = await audit.verify(keyed, KEY, [(before[0].id, before[0].hash)])
    assert (verdict.broken_at, verdict.problem) == (None, None)
    assert (verdict.events, verdict.pruned_up_to) == (2, before[-1].id)
    assert (verdict.anchors, verdict.anchors_pruned) == (0, 1)  # the old anchor is skipped


async def test_prune_twice_is_idempotent(keyed: Database, now: datetime) -> None:
    await a_workstation(keyed)
    await add_alarm(keyed, now - timedelta(days=800))
    first = await prune(keyed, POLICY, now=now, actor=ACTOR)
    assert first.anything
    after_first = await chain(keyed)
    second = await prune(keyed, POLICY, now=now, actor=ACTOR)
    assert not second.anything
    assert await chain(keyed) == after_first  # nothing deleted, nothing written
    assert (await audit.verify(keyed, KEY)).broken_at is None


async def test_everything_old_leaves_the_pruned_record_and_ids_are_not_handed_out_again(
    keyed: Database, now: datetime
) -> None:
    await a_workstation(keyed)
    head = (await events(keyed))[-1]
    await prune(keyed, POLICY, now=now, actor=ACTOR)
    left = await events(keyed)
    assert [e.action for e in left] == [PRUNED]
    assert left[0].id > head.id  # an anchor of a removed event never names a new one
    await append_at(keyed, now)
    verdict = await audit.verify(keyed, KEY, [(head.id, head.hash)])
    assert (verdict.broken_at, verdict.events, verdict.anchors_pruned) == (None, 2, 1)


async def test_zero_days_keeps_everything(keyed: Database, now: datetime) -> None:
    await a_workstation(keyed)
    old = await add_alarm(keyed, now - timedelta(days=5000))
    before = await chain(keyed)
    done = await prune(keyed, RetentionPolicy(0, 0, 0), now=now, actor=ACTOR)
    assert not done.anything
    assert await alarm_ids(keyed) == {old}
    assert await chain(keyed) == before


async def test_rows_deleted_without_a_pruned_record_break_verify(keyed: Database) -> None:
    await a_workstation(keyed)
    first = (await events(keyed))[0]
    async with keyed.write() as session:
        await session.execute(delete(AuditEvent).where(AuditEvent.id == first.id))
    verdict = await audit.verify(keyed, KEY)
    assert verdict.broken_at == first.id + 1
    assert verdict.problem is not None
    assert "without a keyed audit_pruned" in verdict.problem


async def test_rows_deleted_after_a_prune_beyond_its_record_break_verify(
    keyed: Database, now: datetime
) -> None:
    await a_workstation(keyed)
    await append_at(keyed, now - timedelta(days=2))
    await append_at(keyed, now - timedelta(days=1))
    await prune(keyed, POLICY, now=now, actor=ACTOR)
    first_kept = (await events(keyed))[0]
    assert (await audit.verify(keyed, KEY)).broken_at is None
    async with keyed.write() as session:
        await session.execute(delete(AuditEvent).where(AuditEvent.id == first_kept.id))
    verdict = await audit.verify(keyed, KEY)
    assert verdict.broken_at is not None
    assert verdict.problem is not None
    assert "without a keyed audit_pruned" in verdict.problem


async def test_a_pruned_record_forged_without_the_key_breaks_verify(keyed: Database) -> None:
    await a_workstation(keyed)
    chain = await events(keyed)
    first, head = chain[0], chain[-1]
    # An insider without the key deletes the first event and forges the record for it.
    row = {
        "at": utc_now(),
        "actor": "hub:retention",
        "action": PRUNED,
        "alarm_id": None,
        "workstation_id": None,
        "room_id": None,
        "detail": json.dumps({"events": 1, "hash": first.hash, "up_to": first.id}),
        "previous_hash": head.hash,
    }
    forged = AuditEvent(**row)
    row["hash"] = event_hash(head.hash, forged, secrets.token_bytes(32))
    async with keyed.write() as session:
        await session.execute(delete(AuditEvent).where(AuditEvent.id == first.id))
        await session.execute(insert(AuditEvent), [row])
    verdict = await audit.verify(keyed, KEY)
    assert verdict.broken_at is not None
    assert verdict.broken_at > head.id
    assert verdict.problem == "content changed, or hashed without the audit key"


async def test_a_pruned_record_needs_the_key_to_be_believed(keyed: Database, now: datetime) -> None:
    await a_workstation(keyed)
    await prune(keyed, POLICY, now=now, actor=ACTOR)
    assert (await audit.verify(keyed, KEY)).broken_at is None
    verdict = await audit.verify(keyed, None)  # who has no key cannot vouch for the start
    assert verdict.broken_at is not None


async def test_a_truncated_tail_after_a_prune_is_found_against_the_anchors(
    keyed: Database, now: datetime
) -> None:
    await a_workstation(keyed)
    await prune(keyed, POLICY, now=now, actor=ACTOR)
    await append_at(keyed, now)
    head = (await events(keyed))[-1]
    anchors = [(head.id, head.hash)]
    assert (await audit.verify(keyed, KEY, anchors)).broken_at is None
    async with keyed.write() as session:
        await session.execute(delete(AuditEvent).where(AuditEvent.id == head.id))
    verdict = await audit.verify(keyed, KEY, anchors)
    assert verdict.broken_at == head.id
    assert verdict.problem is not None
    assert "missing" in verdict.problem


async def test_the_hubs_daily_job_prunes_with_its_clock(keyed: Database, now: datetime) -> None:
    await a_workstation(keyed)
    old = await add_alarm(keyed, now - timedelta(days=800))
    job = DailyPruning(keyed, POLICY, first_after=0.0, interval=3600.0, clock=lambda: now)
    job.start()
    try:
        done = await until(lambda: job.last, timeout=10, what="the first daily run")
    finally:
        await job.stop()
    assert done.alarms == 1
    assert old not in await alarm_ids(keyed)
    assert (await audit.verify(keyed, KEY)).broken_at is None


async def test_two_hub_instances_pruning_at_once_take_turns(
    keyed: Database, store_url: str, now: datetime
) -> None:
    await a_workstation(keyed)
    old = await add_alarm(keyed, now - timedelta(days=800))
    other = Database(store_url, audit_key=KEY)  # a second hub process on the same store
    try:
        results = await asyncio.gather(
            prune(keyed, POLICY, now=now, actor="hub-a"),
            prune(other, POLICY, now=now, actor="hub-b"),
        )
    finally:
        await other.dispose()
    assert sorted(r.alarms for r in results) == [0, 1]
    assert sorted(r.audit_events > 0 for r in results) == [False, True]
    assert old not in await alarm_ids(keyed)
    actions = [e.action for e in await events(keyed)]
    assert (actions.count(PRUNED_ACTION), actions.count(PRUNED)) == (1, 1)
    assert (await audit.verify(keyed, KEY)).broken_at is None
