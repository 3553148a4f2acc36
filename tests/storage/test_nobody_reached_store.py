"""Issue 13 in the store, on SQLite and PostgreSQL: the nobody-reached timer, the console's
"seen", and "Kann nicht" from everyone; each decided once, even by two hub instances."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import select

from dispatch.alarms.store import AlarmStore
from dispatch.store.database import Database
from dispatch.store.models import AuditEvent
from shared.domain import AlarmKind, AlarmLevel, Answer
from tests.storage.test_alarm_store import Site, alarm, site  # noqa: F401  (the fixture)


async def audit_actions(db: Database, alarm_id: uuid.UUID) -> list[str]:
    async with db.read() as session:
        rows = await session.scalars(
            select(AuditEvent.action).where(AuditEvent.alarm_id == str(alarm_id))
        )
        return list(rows)


async def test_nobody_reached_is_decided_at_the_policy_time_and_once(
    site: Site,  # noqa: F811
    db: Database,
) -> None:
    record, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    assert await site.alarms.decide_reach(record.stored_at + timedelta(seconds=9)) == []
    due = record.stored_at + timedelta(seconds=10)  # the default policy time
    # Two hub instances (two Database objects, as two processes) deciding at the same
    # moment: one tells, the other finds it decided.
    other_db = Database(db.url)
    try:
        first, second = await asyncio.gather(
            site.alarms.decide_reach(due), AlarmStore(other_db).decide_reach(due)
        )
    finally:
        await other_db.dispose()
    decided = first + second
    assert [(r.id, reached) for r, reached in decided] == [(record.id, False)]
    assert decided[0][0].nobody_reached_at is not None
    assert (await audit_actions(db, record.id)).count("alarm_nobody_reached") == 1
    assert await site.alarms.decide_reach(due + timedelta(seconds=5)) == []


async def test_a_receipt_or_a_console_in_time_is_reached(site: Site, db: Database) -> None:  # noqa: F811
    received, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    seen, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    await site.alarms.record_receipts({(received.id, "pc-b")})
    assert await site.alarms.console_seen(seen.id, "Wache") is not None
    assert await site.alarms.console_seen(seen.id, "Wache 2") is None  # only the first
    due = max(received.stored_at, seen.stored_at) + timedelta(seconds=10)
    decided = {r.id: reached for r, reached in await site.alarms.decide_reach(due)}
    assert decided == {received.id: True, seen.id: True}
    assert (await audit_actions(db, seen.id)).count("alarm_seen") == 1


async def test_everyone_cannot_tells_at_once_one_cannot_does_not(site: Site) -> None:  # noqa: F811
    record, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    after_one = await site.alarms.record_answer(record.id, "pc-b", Answer.CANNOT, "B")
    assert after_one.nobody_reached_at is None
    after_all = await site.alarms.record_answer(record.id, "pc-s", Answer.CANNOT, "S")
    assert after_all.nobody_reached_at is not None
    # Decided: the timer does not tell a second time.
    assert await site.alarms.decide_reach(record.stored_at + timedelta(seconds=60)) == []


async def test_self_tests_have_no_timer(site: Site) -> None:  # noqa: F811
    record, _ = await site.alarms.store(
        alarm(AlarmLevel.SUPPORT, kind=AlarmKind.SELF_TEST), site.raiser, None
    )
    assert await site.alarms.decide_reach(record.stored_at + timedelta(hours=1)) == []
