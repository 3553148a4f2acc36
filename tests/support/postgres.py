"""Throw-away PostgreSQL databases for tests: created fresh, dropped afterwards even if in use.

Without a reachable server a test is skipped on a developer's machine and fails
under CI (``CI`` set): the production backend is never silently untested there.
"""

from __future__ import annotations

import os
import uuid

import asyncpg  # type: ignore[import-untyped]  # ships no type hints
import pytest

POSTGRES_ADMIN_DSN = os.environ.get(
    "SILENT_ALARM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def admin_execute(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def database_name(prefix: str) -> str:
    """A name no other test (nor another worktree's test run) takes."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def create_database(prefix: str) -> str:
    """A new, empty database; returns its name."""
    name = database_name(prefix)
    try:
        await admin_execute(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL unreachable in CI at {POSTGRES_ADMIN_DSN}: {error}")
        pytest.skip(f"no PostgreSQL server reachable at {POSTGRES_ADMIN_DSN}")
    return name


async def copy_database(template: str, prefix: str) -> str:
    """A new database with ``template``'s tables and rows (PostgreSQL copies its files, far
    faster than migrating); nobody may be connected to the template. Returns its name."""
    name = database_name(prefix)
    await admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


async def drop_database(name: str) -> None:
    await admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlalchemy_url(name: str) -> str:
    """The hub's URL for a database on the test server (asyncpg driver)."""
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
