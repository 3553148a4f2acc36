"""SQLite's group commit in few trips to aiosqlite's thread (dispatch/store/sqlite_trips.py).

The writes run on a synchronous SQLAlchemy connection over the session's own sqlite3
connection: they must store exactly what the session would have, commit with the
session's transaction, and leave nothing behind when one of them fails.
"""

from __future__ import annotations

import gc
import sqlite3
import uuid
import weakref
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from dispatch.alarms import writer
from dispatch.alarms.store import AlarmStore
from dispatch.directory.authentication import Authenticator
from dispatch.directory.site_scope import EVERY_SITE
from dispatch.directory.site_setup import create_building, create_floor, create_room, create_site
from dispatch.directory.workstations import add_workstation
from dispatch.runtime.metrics import Metrics
from dispatch.store import sqlite_trips
from dispatch.store.database import Database, core_table
from dispatch.store.models import AuditEvent
from shared.domain import AlarmLevel, Trigger, WorkstationRole
from shared.protocol import RaiseAlarm, utc_now

ACTOR = "test"
EVENTS = core_table(AuditEvent)


@pytest.fixture
def store_url(sqlite_file: Path) -> str:
    """SQLite only: PostgreSQL's group commit goes through the session (asyncpg)."""
    return f"sqlite+aiosqlite:///{sqlite_file}"


def event_row(n: int, at: datetime) -> dict[str, object]:
    return {
        "at": at,
        "actor": ACTOR,
        "action": f"probe-{n}",
        "alarm_id": None,
        "workstation_id": None,
        "room_id": None,
        "detail": "{}",
        "previous_hash": f"{n:064d}",
        "hash": f"{n + 1:064d}",
    }


def stored_at_texts(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as raw:
        return [at for (at,) in raw.execute("SELECT at FROM audit_events ORDER BY id")]


async def test_the_writes_store_what_the_session_stores_and_commit(
    db: Database, sqlite_file: Path
) -> None:
    at = datetime(2026, 12, 6, 17, 30, 5, 123456, tzinfo=UTC)
    async with db.write() as session:
        await session.execute(insert(EVENTS), [event_row(1, at)])
    async with db.write() as session:
        await sqlite_trips.write_and_commit(session, [(insert(EVENTS), [event_row(2, at)])])
    # Another connection sees it: committed, and the same text as the session wrote.
    first, second = stored_at_texts(sqlite_file)
    assert first == second
    async with db.read() as session:
        read_back = (await session.scalars(select(AuditEvent.at).order_by(AuditEvent.id))).all()
    assert read_back == [at, at]


async def test_a_failed_write_leaves_nothing_and_the_connection_goes_on(
    db: Database, sqlite_file: Path
) -> None:
    at = utc_now()
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            await sqlite_trips.write_and_commit(
                session,
                # The second repeats the first's previous_hash (unique): the whole batch fails.
                [(insert(EVENTS), [event_row(1, at)]), (insert(EVENTS), [event_row(1, at)])],
            )
    assert stored_at_texts(sqlite_file) == []
    async with db.write() as session:
        await sqlite_trips.write_and_commit(session, [(insert(EVENTS), [event_row(3, at)])])
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEvent)) == 1


async def test_the_plain_sql_batch_read_reads_what_the_core_statement_reads(db: Database) -> None:
    """writer.py keeps its group commit's one SELECT as plain SQL for SQLite (one trip
    instead of three): both must read the same, stored alarms and unknown ids alike."""
    site_id = (await create_site(db, ACTOR, "Test", "Teststraße 1", scope=EVERY_SITE)).id
    building = await create_building(db, ACTOR, site_id, "Haus 1", scope=EVERY_SITE)
    floor = (await create_floor(db, ACTOR, building.id, "1. OG", scope=EVERY_SITE)).id
    room = (await create_room(db, ACTOR, floor, "A", "Raum A", scope=EVERY_SITE)).id
    for pc in ("pc-a", "pc-b"):
        await add_workstation(
            db, ACTOR, pc, site_id, room, f"token-{pc}", WorkstationRole.STAFF, pc.upper()
        )
    raiser = await Authenticator(db).authenticate_workstation("pc-a", "token-pc-a")
    assert raiser is not None
    alarms = AlarmStore(db)
    stored = [
        (
            await alarms.store(
                RaiseAlarm(
                    alarm_id=uuid.uuid4(),
                    level=AlarmLevel.THREAT,
                    trigger=Trigger.HOTKEY,
                    raised_at=utc_now(),
                ),
                raiser,
                "Frau A",
            )
        )[0]
        for _ in range(2)
    ]
    ids = {str(record.id) for record in stored} | {str(uuid.uuid4())}
    async with db.write() as session:
        plain = await writer._sqlite_batch_reads(session, ids)
        core = await writer._batch_reads(session, ids)
    assert plain == core
    version, head, owners = plain
    assert version is not None
    assert head is not None
    assert owners == {str(record.id): "pc-a" for record in stored}


async def test_an_engine_goes_with_its_aiosqlite_connection(db: Database) -> None:
    """The engine kept for a driver connection must not keep that connection alive
    (a pool that replaces its connections would otherwise pile them up)."""
    async with db.write() as session:
        driver = await sqlite_trips.driver_of(session)
        await sqlite_trips.write_and_commit(session, [])
    assert driver in sqlite_trips._ENGINES
    gone = weakref.ref(driver)
    await db.dispose()  # closes the pool's connections
    del driver, session
    gc.collect()
    assert gone() is None


async def test_the_commit_metric_is_the_trips_commit_not_the_empty_one_after(
    sqlite_file: Path,
) -> None:
    """docs/admin.md: ``silent_alarm_db_commit_seconds`` is each write transaction's commit
    (on SQLite the fsync). A batch commits inside its trip; the session's commit after it
    has nothing to do and must not stand in for it."""
    metrics = Metrics()
    db = Database(f"sqlite+aiosqlite:///{sqlite_file}", metrics=metrics)
    try:
        async with db.write() as session:
            await sqlite_trips.write_and_commit(
                session, [(insert(EVENTS), [event_row(1, utc_now())])]
            )
            took = session.info[sqlite_trips.COMMIT_SECONDS]
    finally:
        await db.dispose()
    count = metrics.registry.get_sample_value("silent_alarm_db_commit_seconds_count")
    total = metrics.registry.get_sample_value("silent_alarm_db_commit_seconds_sum")
    assert (count, total) == (1.0, took)
    assert took > 0
