"""Routing from memory stays right: a topology change moves the version; the next alarm sees it.

The alarm writer keeps the routing topology in memory (dispatch/routing/snapshot.py)
and reloads it when the ``topology_version`` counter moved; database triggers raise
the counter (migration 0006). Changes here come through the set-up writes (what the CLI
and the admin API call) and through raw SQL on a connection of its own, as another
process would write; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg  # type: ignore[import-untyped]  # ships no type hints
import pytest
from sqlalchemy import Connection, Engine, event

from dispatch.alarms.lifecycle import AlarmError
from dispatch.alarms.record import AlarmRecord
from dispatch.alarms.store import AlarmStore
from dispatch.directory.authentication import Authenticator
from dispatch.directory.identities import WorkstationView
from dispatch.directory.site_scope import EVERY_SITE
from dispatch.directory.site_setup import (
    create_building,
    create_floor,
    create_room,
    create_site,
    set_room_link,
)
from dispatch.directory.workstations import add_workstation, revoke_workstation, update_workstation
from dispatch.store import audit
from dispatch.store.database import Database
from dispatch.store.migrate import upgrade
from shared.domain import (
    AlarmKind,
    AlarmLevel,
    Instruction,
    RaiserFeedback,
    RoomLinkKind,
    Trigger,
    WorkstationRole,
)
from shared.protocol import RaiseAlarm, utc_now
from tests.support.postgres import create_database, drop_database, sqlalchemy_url

ACTOR = "test"


@dataclass
class Site:
    db: Database
    authenticator: Authenticator
    alarms: AlarmStore
    raiser: WorkstationView
    rooms: dict[str, int]
    site_id: int


@pytest.fixture
async def site(db: Database) -> Site:
    """Rooms A-B-C linked in a row plus a security room S, one PC in each; the raiser sits in A."""
    authenticator = Authenticator(db)
    site_id = (await create_site(db, ACTOR, "Test", "Teststraße 1", scope=EVERY_SITE)).id
    building = await create_building(db, ACTOR, site_id, "Haus 1", scope=EVERY_SITE)
    floor = (await create_floor(db, ACTOR, building.id, "1. OG", scope=EVERY_SITE)).id
    rooms = {
        n: (await create_room(db, ACTOR, floor, n, f"Raum {n}", scope=EVERY_SITE)).id
        for n in ("A", "B", "C", "S")
    }
    await set_room_link(db, ACTOR, rooms["A"], rooms["B"], RoomLinkKind.LINK, scope=EVERY_SITE)
    await set_room_link(db, ACTOR, rooms["B"], rooms["C"], RoomLinkKind.LINK, scope=EVERY_SITE)
    for ws, room, role in [
        ("pc-a", "A", WorkstationRole.STAFF),
        ("pc-b", "B", WorkstationRole.STAFF),
        ("pc-c", "C", WorkstationRole.STAFF),
        ("pc-s", "S", WorkstationRole.SECURITY),
    ]:
        await add_workstation(db, ACTOR, ws, site_id, rooms[room], f"token-{ws}", role, ws.upper())
    raiser = await authenticator.authenticate_workstation("pc-a", "token-pc-a")
    assert raiser is not None
    return Site(db, authenticator, AlarmStore(db), raiser, rooms, site_id)


def alarm(level: AlarmLevel = AlarmLevel.THREAT, **extra: Any) -> RaiseAlarm:
    return RaiseAlarm(
        alarm_id=extra.pop("alarm_id", None) or uuid.uuid4(),
        level=level,
        trigger=Trigger.HOTKEY,
        raised_at=utc_now(),
        **extra,
    )


def recipients(record: AlarmRecord) -> set[str]:
    return {r.workstation_id for r in record.recipients}


async def raw_sql(db: Database, *statements: str) -> list[tuple[Any, ...]]:
    """Runs SQL on a connection of its own, outside the hub's engine (as another process).

    Returns the rows of the last statement.
    """
    if db.url.startswith("sqlite"):
        with sqlite3.connect(db.url.split("///", 1)[1], timeout=5) as connection:
            rows: list[tuple[Any, ...]] = []
            for sql in statements:
                rows = connection.execute(sql).fetchall()
        connection.close()
        return rows
    postgres = await asyncpg.connect(db.url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        records: list[asyncpg.Record] = []
        for sql in statements:
            records = await postgres.fetch(sql)
        return [tuple(r) for r in records]
    finally:
        await postgres.close()


async def version(db: Database) -> int:
    ((value,),) = await raw_sql(db, "SELECT version FROM topology_version WHERE id = 1")
    return int(value)


# --- the counter ------------------------------------------------------------------

NEW_WORKSTATION = (
    "INSERT INTO workstations (id, site_id, room_id, role, state, hostname, display_name,"
    " token_hash, created_at) SELECT 'pc-new', site_id, id, 'staff', 'active', '', '', 'x',"
    " '2026-01-01 00:00:00+00:00' FROM rooms WHERE number = 'C'"
)
ANOTHER_SITE = (
    "INSERT INTO sites (name, address, police_notes, phone, neighbour_radius_m)"
    " VALUES ('Zweite Stelle', '', '', '', 0)"
)
ROUTING_CHANGES = {
    "site radius": ["UPDATE sites SET neighbour_radius_m = 5"],
    "building added": ["INSERT INTO buildings (site_id, name, address)"
                       " SELECT id, 'Haus 2', '' FROM sites"],
    "site added": [ANOTHER_SITE],
    "building moved": [ANOTHER_SITE,
                       "UPDATE buildings SET site_id = (SELECT max(id) FROM sites)"],
    "floor added": ["INSERT INTO floors (building_id, name, level)"
                    " SELECT id, 'EG', 0 FROM buildings"],
    "room moved on the plan": ["UPDATE rooms SET x_m = 3 WHERE number = 'A'"],
    "room to another floor": [
        "INSERT INTO floors (building_id, name, level) SELECT id, 'EG', 0 FROM buildings",
        "UPDATE rooms SET floor_id = (SELECT max(id) FROM floors) WHERE number = 'C'"],
    "room added": ["INSERT INTO rooms (site_id, floor_id, number, name, phone, entrance)"
                   " SELECT site_id, floor_id, 'D', 'Raum D', '', '' FROM rooms"
                   " WHERE number = 'A'"],
    "link added": ["INSERT INTO room_neighbours (room_id, neighbour_id, kind) SELECT a.id, c.id,"
                   " 'link' FROM rooms a, rooms c WHERE a.number = 'A' AND c.number = 'C'"],
    "link becomes exclude": ["UPDATE room_neighbours SET kind = 'exclude'"],
    "link removed": ["DELETE FROM room_neighbours"],
    "workstation added": [NEW_WORKSTATION],
    "workstation removed": [NEW_WORKSTATION, "DELETE FROM workstations WHERE id = 'pc-new'"],
    "workstation moved": ["UPDATE workstations SET room_id = (SELECT id FROM rooms WHERE"
                          " number = 'B') WHERE id = 'pc-c'"],
    "workstation unplaced": ["UPDATE workstations SET room_id = NULL WHERE id = 'pc-c'"],
    "workstation revoked": ["UPDATE workstations SET state = 'revoked' WHERE id = 'pc-c'"],
    "workstation role": ["UPDATE workstations SET role = 'security' WHERE id = 'pc-c'"],
    "policy saved": ["INSERT INTO alarm_policies (site_id, level, scopes, raiser_feedback,"
                     " escalation, cancel_window_s, countdown_s) SELECT id, 2, '[\"site\"]',"
                     " 'count', '[]', 30, 0 FROM sites"],
    "policy changed": ["INSERT INTO alarm_policies (site_id, level, scopes, raiser_feedback,"
                       " escalation, cancel_window_s, countdown_s) SELECT id, 2, '[\"site\"]',"
                       " 'count', '[]', 30, 0 FROM sites",
                       "UPDATE alarm_policies SET cancel_window_s = 10"],
    "policy reset": ["INSERT INTO alarm_policies (site_id, level, scopes, raiser_feedback,"
                     " escalation, cancel_window_s, countdown_s) SELECT id, 2, '[\"site\"]',"
                     " 'count', '[]', 30, 0 FROM sites",
                     "DELETE FROM alarm_policies"],
}  # fmt: skip


@pytest.mark.parametrize("change", ROUTING_CHANGES, ids=list(ROUTING_CHANGES))
async def test_every_change_routing_depends_on_raises_the_version(site: Site, change: str) -> None:
    statements = ROUTING_CHANGES[change]
    *setup, last = statements
    if setup:
        await raw_sql(site.db, *setup)
    before = await version(site.db)
    await raw_sql(site.db, last)
    assert await version(site.db) > before


async def test_heartbeats_self_tests_and_contact_details_leave_the_version_alone(
    site: Site,
) -> None:
    before = await version(site.db)
    await site.authenticator.record_seen({"pc-a": (utc_now(), "2.0"), "pc-b": (utc_now(), "2.0")})
    self_test, _ = await site.alarms.store(alarm(kind=AlarmKind.SELF_TEST), site.raiser, "Frau A")
    passed = await site.alarms.record_receipts([(self_test.id, "pc-a")])
    assert "pc-a" in passed.self_tests_passed  # it wrote the workstation's self-test columns
    await raw_sql(
        site.db,
        "UPDATE workstations SET last_seen_at = '2026-01-02 00:00:00+00:00',"
        " agent_version = '3.0', self_test_at = '2026-01-02 00:00:00+00:00',"
        " self_test_ok = true, display_name = 'Frau A', hostname = 'pc-a.local'",
        # the same values again are no change either
        "UPDATE workstations SET room_id = room_id, state = state, role = role",
        "UPDATE rooms SET name = name, number = number, phone = phone, entrance = entrance",
        "UPDATE sites SET phone = '+49 30 1', police_notes = 'Hof'",
        "UPDATE floors SET name = name, plan_file = 'plan.png'",
        "UPDATE buildings SET name = name, address = 'Hofweg 1'",
    )
    assert await version(site.db) == before


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE rooms SET name = 'Beratung neu' WHERE number = 'A'",
        "UPDATE rooms SET number = 'A1' WHERE number = 'A'",
        "UPDATE rooms SET entrance = 'Tür 2' WHERE number = 'A'",
        "UPDATE rooms SET phone = '-101' WHERE number = 'A'",
        "UPDATE floors SET name = 'Erster Stock'",
        "UPDATE buildings SET name = 'Haus Nord'",
    ],
)
async def test_what_a_room_is_called_moves_the_version(site: Site, statement: str) -> None:
    """Popups and consoles name the room from the snapshot (migration 0008)."""
    before = await version(site.db)
    await raw_sql(site.db, statement)
    assert await version(site.db) == before + 1


async def test_the_triggers_survive_every_migration_up_to_head(db: Database) -> None:
    if db.url.startswith("sqlite"):
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    else:
        sql = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
    names = {row[0] for row in await raw_sql(db, sql)}
    tables: tuple[str, ...] = ("sites", "buildings", "floors", "rooms", "room_neighbours")
    tables += ("workstations", "alarm_policies")
    expected = {f"topology_version_{t}_{e}" for t in tables for e in ("insert", "delete", "update")}
    assert expected <= names


# --- the next alarm routes by the new topology ---------------------------------------


async def test_a_link_through_the_set_up_writes_reaches_the_next_alarm(site: Site) -> None:
    first, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    assert recipients(first) == {"pc-b", "pc-s"}
    await set_room_link(
        site.db, ACTOR, site.rooms["A"], site.rooms["C"], RoomLinkKind.LINK, scope=EVERY_SITE
    )
    second, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    assert recipients(second) == {"pc-b", "pc-c", "pc-s"}


async def test_a_move_and_a_revocation_through_the_set_up_writes_reach_the_next_alarm(
    site: Site,
) -> None:
    first, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    assert recipients(first) == {"pc-b", "pc-s"}
    await update_workstation(site.db, "test", "pc-c", room_id=site.rooms["B"], scope=EVERY_SITE)
    await revoke_workstation(site.db, "test", "pc-b", scope=EVERY_SITE)
    second, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    assert recipients(second) == {"pc-c", "pc-s"}


async def test_a_raw_update_from_another_connection_reaches_the_next_alarm(site: Site) -> None:
    first, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    assert recipients(first) == {"pc-b", "pc-s"}
    await raw_sql(
        site.db,
        "UPDATE workstations SET room_id = (SELECT id FROM rooms WHERE number = 'B')"
        " WHERE id = 'pc-c'",
    )
    second, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    assert recipients(second) == {"pc-b", "pc-c", "pc-s"}


async def test_a_radius_and_room_positions_from_another_connection_reach_the_next_alarm(
    site: Site,
) -> None:
    await site.alarms.store(alarm(), site.raiser, "Frau A")
    await raw_sql(
        site.db,
        "DELETE FROM room_neighbours",
        "UPDATE rooms SET x_m = 0, y_m = 0 WHERE number = 'A'",
        "UPDATE rooms SET x_m = 4, y_m = 0 WHERE number = 'C'",
        "UPDATE rooms SET x_m = 40, y_m = 0 WHERE number IN ('B', 'S')",
        "UPDATE sites SET neighbour_radius_m = 5",
    )
    second, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    assert recipients(second) == {"pc-c", "pc-s"}


async def test_a_policy_from_another_connection_reaches_the_next_alarm(site: Site) -> None:
    first, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    assert (first.cancel_window_s, first.raiser_feedback) == (30, RaiserFeedback.COUNT)
    await raw_sql(
        site.db,
        "INSERT INTO alarm_policies (site_id, level, scopes, raiser_feedback, escalation,"
        " cancel_window_s, countdown_s) SELECT id, 2, '[\"site\"]', 'names', '[]', 12, 0"
        " FROM sites",
    )
    second, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    assert recipients(second) == {"pc-b", "pc-c"}  # the whole site; no security scope saved
    assert (second.cancel_window_s, second.raiser_feedback) == (12, RaiserFeedback.NAMES)


async def test_level_three_from_the_snapshot_never_gives_staff_the_room(site: Site) -> None:
    await site.alarms.store(alarm(), site.raiser, "Frau A")  # the snapshot is loaded
    await add_workstation(
        site.db, ACTOR, "pc-c2", site.site_id, site.rooms["C"], "t", display_name=""
    )
    record, _ = await site.alarms.store(alarm(AlarmLevel.DANGER), site.raiser, "Frau A")
    by_ws = {r.workstation_id: r for r in record.recipients}
    assert set(by_ws) == {"pc-b", "pc-c", "pc-c2", "pc-s"}
    for staff in ("pc-b", "pc-c", "pc-c2"):
        assert (by_ws[staff].instruction, by_ws[staff].with_location) == (
            Instruction.STAY_AWAY,
            False,
        )
    assert by_ws["pc-s"].instruction is Instruction.SECURE_AND_CALL_POLICE
    assert by_ws["pc-s"].with_location


async def test_an_escalation_widens_by_the_topology_at_its_time(site: Site) -> None:
    record, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    assert recipients(record) == {"pc-b", "pc-s"}
    # After the alarm: a PC is added to the floor (the first step widens to the floor).
    await add_workstation(site.db, ACTOR, "pc-d", site.site_id, site.rooms["C"], "t-d")
    escalated = await site.alarms.escalate_due(record.stored_at + timedelta(seconds=46))
    ((widened, added),) = escalated
    assert sorted(added) == ["pc-c", "pc-d"]
    assert recipients(widened) == {"pc-b", "pc-c", "pc-d", "pc-s"}


async def test_without_its_version_row_the_store_reloads_every_time_and_stays_idempotent(
    site: Site,
) -> None:
    await raw_sql(site.db, "DELETE FROM topology_version")
    first, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    assert recipients(first) == {"pc-b", "pc-s"}
    assert await site.alarms.store(alarm(alarm_id=first.id), site.raiser, "Frau A") == (
        first,
        False,
    )
    await set_room_link(
        site.db, ACTOR, site.rooms["A"], site.rooms["C"], RoomLinkKind.LINK, scope=EVERY_SITE
    )  # no counter moves now
    second, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    assert recipients(second) == {"pc-b", "pc-c", "pc-s"}


# --- group commit: one batch, a fixed number of statements ----------------------------


@contextmanager
def counting(db: Database) -> Iterator[dict[str, int]]:
    """Counts the statements, commits and rollbacks sent while the block runs, and on
    SQLite the trips to aiosqlite's thread (what a statement costs there).

    Statements are counted on every engine (``dispatch.store.sqlite_trips`` runs the
    group commit's writes on an engine of its own). Audit rows are counted apart:
    ``dispatch.store.audit`` writes a transaction's events with one executemany just
    before the commit. Rollbacks are counted where the dialect hands them to the
    driver, the connection pool's rollback on return included: on SQLite each is a
    trip to aiosqlite's thread even when no transaction is open.
    """
    counts = {"statements": 0, "audit_inserts": 0, "commits": 0, "rollbacks": 0, "trips": 0}

    def statement(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        key = "audit_inserts" if sql.startswith("INSERT INTO audit_events") else "statements"
        counts[key] += 1

    def commit(*_: object) -> None:
        counts["commits"] += 1

    engine = db.engine.sync_engine
    dialect = engine.dialect
    driver_rollback = dialect.do_rollback
    queue_call = aiosqlite.Connection._execute

    def rollback(dbapi_connection: Any) -> None:
        counts["rollbacks"] += 1
        driver_rollback(dbapi_connection)

    async def trip(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        counts["trips"] += 1
        return await queue_call(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    dialect.do_rollback = rollback  # type: ignore[method-assign]
    aiosqlite.Connection._execute = trip  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        event.remove(Engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
        del dialect.do_rollback  # the class's method again
        aiosqlite.Connection._execute = queue_call  # type: ignore[method-assign]


async def store_together(
    site: Site, messages: list[tuple[RaiseAlarm, WorkstationView]]
) -> list[Any]:
    """Stores alarms that arrive together: they queue before the writer runs, one batch."""
    return await asyncio.gather(
        *(site.alarms.store(m, raiser, "Frau A") for m, raiser in messages),
        return_exceptions=True,
    )


async def test_a_batch_of_fifty_costs_the_statements_of_one(site: Site) -> None:
    await site.alarms.store(alarm(), site.raiser, "Frau A")  # loads the routing snapshot
    with counting(site.db) as one:
        await store_together(site, [(alarm(), site.raiser)])
    with counting(site.db) as fifty:
        results = await store_together(site, [(alarm(), site.raiser) for _ in range(50)])
    assert all(created for _, created in results)
    assert (fifty["statements"], fifty["commits"]) == (one["statements"], one["commits"])
    assert one["commits"] == 1
    # Audit head (and the advisory lock on PostgreSQL), the version together with the
    # duplicates, alarms, recipients: nothing that grows with the alarms or reads topology.
    assert one["statements"] <= 5
    # Tighter: the audit head, the version and the duplicates are one SELECT (after
    # the advisory lock on PostgreSQL), then the alarms and the recipients.
    # On SQLite that SELECT is plain SQL straight to the driver (counted as a trip).
    sqlite = site.db.engine.dialect.name == "sqlite"
    assert one["statements"] <= (2 if sqlite else 4), one
    # Fifty alarms' audit events go in with one INSERT, not one each.
    assert (one["audit_inserts"], fifty["audit_inserts"]) == (1, 1)
    if sqlite:
        # No ROLLBACK after the commit (the pool's reset on return): on SQLite each one
        # is a trip to aiosqlite's thread. asyncpg's is a no-op without a transaction.
        assert (one["rollbacks"], fifty["rollbacks"]) == (0, 0)
        # BEGIN IMMEDIATE, the SELECT, the writes with the COMMIT, and the session's own
        # commit (nothing left open): 15 trips before dispatch/store/sqlite_trips.py.
        assert fifty["trips"] == one["trips"] <= 4, (one, fifty)


async def test_routing_loaded_at_start_spares_the_first_alarm_the_topology_reads(
    site: Site,
) -> None:
    """The hub reads the routing before it serves (dispatch/app.py)."""
    fresh = AlarmStore(site.db)
    await fresh.routing.refresh()
    with counting(site.db) as first:
        _, created = await fresh.store(alarm(), site.raiser, "Frau A")
    assert created
    assert first["statements"] <= 5  # as a warm batch: no reads of the topology
    assert first["statements"] <= (3 if site.db.engine.dialect.name == "sqlite" else 4), first


async def test_a_refused_alarm_leaves_the_rest_of_its_batch_stored(site: Site) -> None:
    pc_b = await site.authenticator.authenticate_workstation("pc-b", "token-pc-b")
    assert pc_b is not None
    earlier, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    retried = alarm(alarm_id=earlier.id)
    twice = alarm()
    good = [alarm() for _ in range(3)]
    with counting(site.db) as counts:
        results = await store_together(
            site,
            [
                (good[0], site.raiser),
                (alarm(alarm_id=earlier.id), pc_b),  # another workstation's alarm id
                (good[1], site.raiser),
                (alarm(kind=AlarmKind.DRILL), site.raiser),  # no drill is running
                (retried, site.raiser),  # stored before: a duplicate
                (twice, site.raiser),
                (twice, site.raiser),  # a retry within the same batch
                (good[2], site.raiser),
            ],
        )
    assert counts["commits"] == 1
    stolen, no_drill = results[1], results[3]
    assert isinstance(stolen, AlarmError)
    assert stolen.code == "not_allowed"
    assert isinstance(no_drill, AlarmError)
    assert no_drill.code == "no_drill"
    for index in (0, 2, 7):
        record, created = results[index]
        assert created
        assert recipients(record) == {"pc-b", "pc-s"}
    assert results[4] == (earlier, False)
    (first, first_created), (second, second_created) = results[5], results[6]
    assert (first_created, second_created) == (True, False)
    assert first == second
    for message in (*good, twice):
        stored = await site.alarms.get(message.alarm_id)
        assert stored is not None
        assert recipients(stored) == {"pc-b", "pc-s"}
    assert len(await site.alarms.open_alarms()) == 5  # earlier + three good + twice
    verdict = await audit.verify(site.db)
    assert verdict.broken_at is None


async def test_a_claimed_room_in_a_batch_is_only_audited(site: Site) -> None:
    results = await store_together(
        site, [(alarm(claimed_room="C"), site.raiser), (alarm(), site.raiser)]
    )
    (claimed, _), _ = results
    assert claimed.room is not None
    assert claimed.room.number == "A"
    assert recipients(claimed) == {"pc-b", "pc-s"}
    rows = await raw_sql(
        site.db, "SELECT action FROM audit_events WHERE action LIKE 'room_claim%' ORDER BY id"
    )
    assert rows == [("room_claim_ignored",)]
    assert (await audit.verify(site.db)).broken_at is None


# --- migration 0006 up and down ---------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database on each backend, not migrated yet."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}"
        return
    name = await create_database("silent_alarm_migrate")
    try:
        yield sqlalchemy_url(name)
    finally:
        await drop_database(name)


async def test_migration_0006_goes_down_and_up_again(empty_url: str) -> None:
    from alembic import command

    from dispatch.store.migrate import alembic_config

    config = alembic_config(empty_url)
    await asyncio.to_thread(upgrade, empty_url)
    db = Database(empty_url)
    try:
        assert await version(db) == 0
        await asyncio.to_thread(command.downgrade, config, "0005")
        tables = (
            "SELECT name FROM sqlite_master WHERE name LIKE 'topology_version%'"
            if empty_url.startswith("sqlite")
            else "SELECT tgname FROM pg_trigger WHERE tgname LIKE 'topology_version%'"
            " UNION SELECT tablename FROM pg_tables WHERE tablename = 'topology_version'"
            " UNION SELECT proname FROM pg_proc WHERE proname = 'topology_version_bump'"
        )
        assert await raw_sql(db, tables) == []
        await create_site(
            db, ACTOR, "Test", scope=EVERY_SITE
        )  # the tables work without their triggers
        await asyncio.to_thread(command.upgrade, config, "head")
        await raw_sql(db, "UPDATE sites SET neighbour_radius_m = 2")
        assert await version(db) == 1
        # What a later migration that copies a table on SQLite runs again: harmless twice.
        async with db.engine.begin() as connection:
            await connection.run_sync(_create_triggers_again)
        await raw_sql(db, "UPDATE sites SET neighbour_radius_m = 3")
        assert await version(db) == 2
    finally:
        await db.dispose()


def _create_triggers_again(connection: Connection) -> None:
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    from dispatch.store.migrate import MIGRATIONS_DIR

    path = MIGRATIONS_DIR / "versions" / "0006_topology_version.py"
    spec = importlib.util.spec_from_file_location("migration_0006", path)
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with Operations.context(MigrationContext.configure(connection)):
        migration.create_triggers()
