"""Migration 0016: the console's recently resolved alarms are read by an index.

A hub keeps 30 days of every PC's self-tests beside two years of alarms; a console
connecting must not read and sort them all to list the last five resolved.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from datetime import timedelta
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from dispatch.alarms.reads import recently_resolved_query
from dispatch.directory.identities import OperatorView
from dispatch.store.database import Database
from dispatch.store.migrate import alembic_config, upgrade
from shared.domain import OperatorRole
from shared.protocol import utc_now

INDEX = "ix_alarms_state_resolved_at"


def alarm_indexes(session: Session) -> set[str]:
    return {str(index["name"]) for index in inspect(session.connection()).get_indexes("alarms")}


async def indexes(url: str) -> set[str]:
    db = Database(url)
    try:
        async with db.read() as session:
            return await session.run_sync(alarm_indexes)
    finally:
        await db.dispose()


def test_sqlite_reads_the_window_by_the_index_without_sorting(sqlite_file: Path) -> None:
    # A manager limited to a site: the visibility rules join rooms and PCs, and still
    # the window is read by the index, in order.
    manager = OperatorView(
        id=1,
        username="m",
        display_name="M",
        role=OperatorRole.EMERGENCY_MANAGER,
        sites=frozenset({1}),
    )
    query = recently_resolved_query(utc_now() - timedelta(hours=12), 5, manager)
    sql = str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    with contextlib.closing(sqlite3.connect(sqlite_file)) as db:
        plan = " | ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}"))
    assert f"USING INDEX {INDEX} (state=? AND resolved_at>?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # no sort: the index gives the order


async def test_migration_0016_goes_down_and_up(store_url: str) -> None:
    from alembic import command

    assert INDEX in await indexes(store_url)
    await asyncio.to_thread(command.downgrade, alembic_config(store_url), "0015")
    assert INDEX not in await indexes(store_url)
    assert "ix_alarms_state" in await indexes(store_url)  # the older index stays
    await asyncio.to_thread(upgrade, store_url)
    assert INDEX in await indexes(store_url)
