"""The audit chain stays one chain when two processes append to it at the same time.

The hub and the ``python -m dispatch`` CLI (revoking a device, say) each have a
``Database`` of their own: their own connections, their own single-writer lock.
A writer reads the chain's head and appends after it; if the other commits in
between, both append to the same head and the chain forks. Two ``Database``
objects on one database here are those two processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from dispatch.store import audit
from dispatch.store.audit import AuditTrail
from dispatch.store.database import Database
from dispatch.store.models import AuditEvent

TRANSACTIONS = 60
"""Per writer; without the write lock taken first, SQLite forks within a few."""


@pytest.fixture
async def other_process(db: Database) -> AsyncIterator[Database]:
    """A second writer on the same database, as the CLI would open it."""
    other = Database(db.url)
    try:
        yield other
    finally:
        await other.dispose()


async def event_count(db: Database) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(AuditEvent))).scalar_one()


async def append_many(db: Database, name: str) -> None:
    for number in range(TRANSACTIONS):
        async with db.write() as session:
            trail = await AuditTrail.open(session)  # reads the head
            # Another statement before the events go in, as real writes have
            # (the row the event is about): the other writer gets its turn here.
            await session.execute(select(func.count()).select_from(AuditEvent))
            trail.append(f"test:{name}", "appended", number=number)
            if number % 3 == 0:
                trail.append(f"test:{name}", "appended again", number=number)


async def test_two_writers_appending_at_once_keep_one_unbroken_chain(
    db: Database, other_process: Database
) -> None:
    await asyncio.gather(append_many(db, "hub"), append_many(other_process, "cli"))
    per_writer = TRANSACTIONS + len(range(0, TRANSACTIONS, 3))
    assert await event_count(db) == 2 * per_writer
    verdict = await audit.verify(db)
    assert (verdict.broken_at, verdict.problem) == (None, None)
    assert verdict.events == 2 * per_writer


async def test_the_database_refuses_a_second_event_after_the_same_head(db: Database) -> None:
    async with db.write() as session:
        (await AuditTrail.open(session)).append("test", "first")
    # A trail that starts from a head read before "first" went in: a fork.
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            AuditTrail.resume(session, None).append("test", "forked")
    assert await event_count(db) == 1
    assert (await audit.verify(db)).broken_at is None
