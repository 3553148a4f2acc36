"""The audit trail's write path on every backend: one trail per transaction, written at commit.

``dispatch.store.audit`` keeps a transaction's events in memory and inserts them with one
statement just before the commit. These tests hold it to what the ORM did before:
the chain stays one chain however often a transaction opens the trail, a rollback
leaves nothing behind, and every event appended before a commit is in the table.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from dispatch.store import audit
from dispatch.store.audit import AuditTrail
from dispatch.store.database import Database
from dispatch.store.models import AuditEvent


async def actions(db: Database) -> list[str]:
    async with db.read() as session:
        return list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


async def test_opening_the_trail_twice_in_a_transaction_keeps_one_chain(db: Database) -> None:
    async with db.write() as session:
        (await AuditTrail.open(session)).append("test", "first")
        # Nothing is in the table yet: a second open must not start from the old head.
        (await AuditTrail.open(session)).append("test", "second")
        AuditTrail.resume(session, None).append("test", "third")
    async with db.write() as session:
        (await AuditTrail.open(session)).append("test", "fourth")
    assert await actions(db) == ["first", "second", "third", "fourth"]
    verdict = await audit.verify(db)
    assert (verdict.events, verdict.broken_at) == (4, None)


async def test_a_rolled_back_transaction_leaves_no_event_and_the_chain_goes_on(
    db: Database,
) -> None:
    async def failing_write() -> None:
        async with db.write() as session:
            (await AuditTrail.open(session)).append("test", "rolled back")
            raise RuntimeError("the write fails after the event")

    async with db.write() as session:
        (await AuditTrail.open(session)).append("test", "kept")
    with pytest.raises(RuntimeError):
        await failing_write()
    async with db.write() as session:
        (await AuditTrail.open(session)).append("test", "after")
    assert await actions(db) == ["kept", "after"]
    assert (await audit.verify(db)).broken_at is None


async def test_a_session_rolled_back_and_used_again_writes_only_the_new_events(
    db: Database,
) -> None:
    sessions = async_sessionmaker(db.engine)
    async with sessions() as session:
        (await AuditTrail.open(session)).append("test", "never happened")
        await session.rollback()
        (await AuditTrail.open(session)).append("test", "happened")
        await session.commit()
    assert await actions(db) == ["happened"]
    assert (await audit.verify(db)).broken_at is None


async def test_events_appended_after_a_commit_go_in_with_the_next_one(db: Database) -> None:
    sessions = async_sessionmaker(db.engine)
    async with sessions() as session:
        trail = await AuditTrail.open(session)
        trail.append("test", "one")
        await session.commit()
        trail.append("test", "two")  # the same trail object, a new transaction
        await session.commit()
    assert await actions(db) == ["one", "two"]
    assert (await audit.verify(db)).broken_at is None


async def test_many_events_of_one_transaction_are_all_stored_in_order(db: Database) -> None:
    async with db.write() as session:
        trail = await AuditTrail.open(session)
        for n in range(300):
            trail.append("test", f"event-{n:03d}", n=n)
    assert await actions(db) == [f"event-{n:03d}" for n in range(300)]
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEvent)) == 300
    verdict = await audit.verify(db)
    assert (verdict.events, verdict.broken_at) == (300, None)


async def test_a_keyed_database_signs_every_event_and_a_plain_event_after_them_breaks(
    db: Database,
) -> None:
    """The key rides on every session: any write path's events are keyed; the chain of
    events from before keys goes on, and an unkeyed writer after them is caught."""
    key = b"k" * 32
    async with db.write() as session:
        (await AuditTrail.open(session)).append("test", "before keys")
    keyed = Database(db.url, audit_key=key)
    try:
        async with keyed.write() as session:
            (await AuditTrail.open(session)).append("test", "keyed")
        async with keyed.write() as session:
            (await AuditTrail.open(session)).append("test", "keyed too")
        verdict = await audit.verify(keyed, key)
        assert (verdict.events, verdict.broken_at, verdict.keyed_from) == (3, None, 2)
        assert (await audit.verify(keyed, b"x" * 32)).broken_at == 2  # a wrong key
        async with db.write() as session:  # a writer without the key
            (await AuditTrail.open(session)).append("test", "unkeyed")
        verdict = await audit.verify(keyed, key)
        assert (verdict.broken_at, verdict.problem) == (
            4,
            "content changed, or hashed without the audit key",
        )
    finally:
        await keyed.dispose()
