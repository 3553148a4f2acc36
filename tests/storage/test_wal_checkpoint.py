"""The hub's SQLite commits never checkpoint the WAL; a background task of its own does.

SQLite checkpoints inside the commit that takes the WAL past 1,000 pages: that
commit copies the pages into the database file and waits for its fsync. The
hub's ``Database`` turns that off on its connections and checkpoints from its
own connection and thread (``dispatch.store.wal_checkpoints.WalCheckpoints``). The tests
watch the files SQLite writes: pages reach the database file only through a
checkpoint, and the WAL file only grows while it is never started afresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from structlog.testing import capture_logs

from dispatch.store import wal_checkpoints
from dispatch.store.database import Database
from tests.support.waiting import until

ROW = "x" * 3000
"""About one page per row: every commit adds pages to the WAL."""


@pytest.fixture
async def path(sqlite_file: Path) -> Path:
    """A migrated store with a table to fill."""
    setup = Database(f"sqlite+aiosqlite:///{sqlite_file}")
    try:
        async with setup.write() as session:
            await session.execute(text("CREATE TABLE filler (body TEXT)"))
    finally:
        await setup.dispose()  # the last connection closes: WAL checkpointed and gone
    return sqlite_file


@pytest.fixture
async def hub_db(path: Path) -> AsyncIterator[Database]:
    """The hub's Database: background checkpoints (dispatch/app.py)."""
    db = Database(f"sqlite+aiosqlite:///{path}", checkpoint_in_background=True)
    try:
        yield db
    finally:
        await db.dispose()


def size(file: Path) -> int:
    """A file's size; 0 while it does not exist (the WAL before the first write)."""
    return file.stat().st_size if file.exists() else 0


async def autocheckpoint(db: Database) -> int:
    async with db.write() as session:
        return int((await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one())


async def fill(db: Database, commits: int, hold_s: float = 0.0) -> None:
    for _ in range(commits):
        async with db.write() as session:
            await session.execute(text("INSERT INTO filler (body) VALUES (:b)"), {"b": ROW})
            if hold_s:
                await asyncio.sleep(hold_s)  # a writer that is always inside a transaction


async def test_the_hub_writer_never_checkpoints_and_other_processes_keep_sqlites_default(
    hub_db: Database, path: Path
) -> None:
    cli = Database(f"sqlite+aiosqlite:///{path}")
    try:
        assert await autocheckpoint(hub_db) == 0
        assert await autocheckpoint(cli) == 1000
    finally:
        await cli.dispose()


async def test_committed_pages_reach_the_database_file_through_the_background_task(
    hub_db: Database, path: Path
) -> None:
    before = size(path)
    await fill(hub_db, 40)  # ~40 pages: far below SQLite's own 1,000-page checkpoint
    assert size(path) == before  # all still in the WAL, none checkpointed in a commit
    await until(
        lambda: size(path) > before + 30 * 4096,
        timeout=10,
        what="the background checkpoint copied the new pages into the database file",
    )
    checkpoints = hub_db.checkpoints
    assert checkpoints is not None
    await until(lambda: checkpoints.passes >= 1, what="the task counted its pass")


async def test_a_writer_that_never_pauses_still_gets_the_wal_started_afresh(
    hub_db: Database, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the pass under the writer lock, each checkpoint misses the last commit's
    pages, the WAL never starts again from its beginning, and its file takes every page."""
    monkeypatch.setattr(wal_checkpoints, "CHECKPOINT_INTERVAL_S", 0.05)
    monkeypatch.setattr(wal_checkpoints, "CHECKPOINT_RESTART_FRAMES", 20)
    wal = Path(f"{path}-wal")
    commits = 300
    largest = 0

    async def watch() -> None:
        nonlocal largest
        while True:
            largest = max(largest, size(wal))
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        await fill(hub_db, commits, hold_s=0.002)
    finally:
        watcher.cancel()
    largest = max(largest, size(wal))
    assert hub_db.checkpoints is not None
    assert hub_db.checkpoints.passes >= 4
    # Every commit writes at least its row's page (~3.7 MB in all measured when the WAL
    # never restarts; ~0.2 MB with the pass under the writer lock).
    assert largest < commits * 4096 / 3, f"WAL file grew to {largest} bytes"


async def test_failing_checkpoints_are_retried_and_sqlites_own_covers_only_meanwhile(
    hub_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16: a failed pass (here a stand-in for SQLITE_FULL or an I/O error; the real
    full disk is tests/integration/test_full_disk.py) never ends the task for good."""
    broken = True
    real_pass = wal_checkpoints.WalCheckpoints._pass

    async def failing_while_broken(
        self: wal_checkpoints.WalCheckpoints, connection: Any, mode: str
    ) -> int:
        if broken:
            raise OSError("disk I/O error")
        return await real_pass(self, connection, mode)

    monkeypatch.setattr(wal_checkpoints, "CHECKPOINT_INTERVAL_S", 0.0)
    monkeypatch.setattr(wal_checkpoints, "RETRY_FIRST_S", 0.01)
    monkeypatch.setattr(wal_checkpoints.WalCheckpoints, "_pass", failing_while_broken)
    checkpoints = hub_db.checkpoints
    assert checkpoints is not None
    with capture_logs() as logs:
        assert await autocheckpoint(hub_db) == 0  # its commit starts the task, which fails
        await until(lambda: checkpoints.failures >= 3, what="the task retried its pass")
        # While it fails, the connections checkpoint in their commits, as by default.
        async with hub_db.read() as reading:
            assert await autocheckpoint(hub_db) == 1000
            pragma = await reading.execute(text("PRAGMA wal_autocheckpoint"))
            assert pragma.scalar_one() == 1000
        passes = checkpoints.passes
        broken = False  # the disk is back: the next retry (no commit needed) succeeds
        await until(lambda: not checkpoints.failing, what="the task recovered")
    assert checkpoints.passes > passes
    failed = [entry for entry in logs if entry["event"] == "wal_checkpoints_failed"]
    assert [entry["log_level"] for entry in failed] == ["error"]  # once, not per retry
    assert any(entry["event"] == "wal_checkpoints_recovered" for entry in logs)
    # Recovered: the writer's commits never checkpoint again.
    assert await autocheckpoint(hub_db) == 0
    assert await autocheckpoint(hub_db) == 0


async def test_a_pass_after_a_failure_empties_the_wal_file(hub_db: Database, path: Path) -> None:
    """``shrink`` (a write failed) has the next pass TRUNCATE: the WAL file goes to nothing,
    and the space a full disk needs comes back."""
    await fill(hub_db, 50)
    wal = path.with_name(path.name + "-wal")
    assert size(wal) > 50 * 3000
    checkpoints = hub_db.checkpoints
    assert checkpoints is not None
    passes = checkpoints.passes
    checkpoints.shrink()
    await until(lambda: checkpoints.passes > passes and size(wal) == 0, what="WAL truncated")
