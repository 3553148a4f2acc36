"""Brings the database schema to the newest Alembic revision; the only way tables are made."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Blocking: call before the event loop of the server starts."""
    if database_url.startswith("sqlite"):
        create_private(Path(database_url.split("///", 1)[1]))
    command.upgrade(alembic_config(database_url), revision)


def create_private(database: Path) -> None:
    """The SQLite file is readable by the hub's own user only, whatever the umask.

    It holds names, incident notes and the audit trail. SQLite gives its -wal and
    -shm files the database file's mode, so creating this one 0600 covers all three;
    a file made earlier under a lax umask loses its bits for others.
    """
    database.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        mode = stat.S_IMODE(database.stat().st_mode)
        if mode & 0o007:
            database.chmod(mode & ~0o007)


def head_revision() -> str:
    """The schema version this code needs (the newest migration)."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "dispatch/migrations has at least one revision"
    return head


def known_revisions() -> frozenset[str]:
    """Every schema version this code knows: the head and each one it can migrate from."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(script.revision for script in scripts.walk_revisions())


async def current_revision(engine: AsyncEngine) -> str | None:
    """The schema version the database is at; None before the first migration."""
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
