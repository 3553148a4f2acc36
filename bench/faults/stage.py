"""One round's world: a fresh database of the kind its fault needs, seeded, and the real hub.

SQLite in a temporary folder, SQLite on a small tmpfs of its own (the full-disk fault),
a PostgreSQL server of the round's own (tests/support/pgserver.py) or a primary with a
synchronous standby (tests/support/pgcluster.py). The shared server on 5432 is never
touched, and everything is stopped and removed afterwards, also when the round fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # ships no type hints
from sqlalchemy import event

from bench.faults.topology import Plan, seed_ring
from bench.procs import HubProcess
from bench.run import free_port
from bench.topology import Seeder, token_for
from dispatch.store.database import Database
from dispatch.store.migrate import upgrade
from dispatch.store.postgres_hosts import sqlalchemy_form
from tests.support.pgcluster import PgCluster, pg_cluster
from tests.support.pgserver import Cluster, throwaway_cluster
from tests.support.small_disk import small_disk

DISK_SIZE = "16m"
DISK_RESERVE_BYTES = 1024 * 1024
"""The hub's disk reserve on the small disk (the tests' figure; the default 32 MiB would
not fit): what it frees to commit once the disk is full (docs/operations.md)."""


@dataclass
class Stage:
    hub: HubProcess
    plan: Plan
    run_key: str
    database_url: str
    pg: Cluster | None = None
    pg_pair: PgCluster | None = None

    def tokens(self) -> list[tuple[str, str]]:
        return [(w, token_for(self.run_key, w)) for w in self.plan.everyone]

    async def stored_rows(self) -> Counter[str]:
        """Rows per alarm id in the hub's store, read directly, as an auditor would."""
        if self.pg is not None:
            return await _pg_rows(self.pg.dsn)
        if self.pg_pair is not None:
            # The standby: after the failover the only server; before it, a synchronous copy.
            return await _pg_rows(f"postgresql://postgres@127.0.0.1:{self.pg_pair.standby.port}/")
        return await asyncio.to_thread(_sqlite_rows, self.hub.data_dir / "dispatch.sqlite3")


async def _pg_rows(dsn: str) -> Counter[str]:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        rows = await connection.fetch("SELECT id, count(*) AS n FROM alarms GROUP BY id")
    finally:
        await connection.close()
    return Counter({str(row["id"]).lower(): int(row["n"]) for row in rows})


def _sqlite_rows(path: Path) -> Counter[str]:
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as db:
        rows = db.execute("SELECT id, count(*) FROM alarms GROUP BY id").fetchall()
    return Counter({str(alarm_id).lower(): int(n) for alarm_id, n in rows})


def _fast_seeding(dbapi_connection: Any, _record: Any) -> None:
    # Seeding is not measured: skip the per-commit fsync the hub itself keeps.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


async def _seed(hub_url: str, run_key: str, desks: int) -> Plan:
    url = sqlalchemy_form(hub_url)  # a libpq host list as SQLAlchemy reads it, as the hub does
    await asyncio.to_thread(upgrade, url)  # alembic runs its own event loop
    db = Database(url)
    if url.startswith("sqlite"):
        event.listen(db.engine.sync_engine, "connect", _fast_seeding)
    try:
        return await seed_ring(Seeder(db, run_key), desks)
    finally:
        await db.dispose()


@contextlib.contextmanager
def _database(kind: str, data_dir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The database URL the hub gets, and what the stage keeps of it."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{data_dir / 'dispatch.sqlite3'}", {}
    elif kind == "small-disk":
        with small_disk(data_dir, DISK_SIZE):
            yield f"sqlite+aiosqlite:///{data_dir / 'dispatch.sqlite3'}", {}
    elif kind == "postgres":
        with throwaway_cluster() as cluster:
            yield cluster.url, {"pg": cluster}
    elif kind == "postgres-standby":
        with pg_cluster() as pair:
            yield pair.sqlalchemy_url("postgres"), {"pg_pair": pair}
    else:
        raise ValueError(f"unknown database kind {kind}")


@contextlib.asynccontextmanager
async def open_stage(kind: str, desks: int, heartbeat: float) -> AsyncIterator[Stage]:
    """Seeded and the hub listening; the hub, the database and the folders gone afterwards."""
    root = Path(tempfile.mkdtemp(prefix="bench-faults-", dir="/tmp"))
    data_dir = root / "data"
    data_dir.mkdir()
    run_key = uuid.uuid4().hex
    try:
        with _database(kind, data_dir) as (url, keep):
            plan = await _seed(url, run_key, desks)
            env: dict[str, str] = {}
            if kind == "small-disk":
                env["SILENT_ALARM_DISK_RESERVE_BYTES"] = str(DISK_RESERVE_BYTES)
            if not url.startswith("sqlite"):
                env["SILENT_ALARM_DATABASE_URL"] = url
            hub = HubProcess(data_dir, free_port(), heartbeat, env=env, log_dir=root)
            stage = Stage(hub, plan, run_key, url, **keep)
            hub.start()
            try:
                await hub.wait_ready()
                yield stage
            finally:
                await asyncio.to_thread(hub.stop)
    finally:
        shutil.rmtree(root, ignore_errors=True)
