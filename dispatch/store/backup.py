"""A consistent copy of the live SQLite store (SQLite's online backup API), and putting one back.

A plain ``cp`` of the running database copies the main file without the
committed pages still in its WAL, so the copy misses what was written last (an
operator added a second before was lost). The online backup API reads through
SQLite, in one read transaction: the copy is the database as of one commit,
WAL included, while the hub keeps writing. The audit key is not in the
database and is not put into the copy: whoever holds the backup alone cannot
forge the audit trail.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dispatch.store.migrate import head_revision, known_revisions, upgrade

_OWN_TABLES = ("alembic_version", "alarms", "operators", "workstations", "audit_events")
"""Tables that make a SQLite file a database of this product."""
_SQLITE_HEADER = b"SQLite format 3\x00"
_COMPANIONS = ("-wal", "-shm")  # SQLite's files beside a database in WAL mode


class BackupRefused(Exception):
    """The backup or restore cannot be done; the message is one line for the admin."""


@dataclass(frozen=True)
class Contents:
    """What a database file holds, as the admin checks it after a backup or restore."""

    size: int
    schema: str
    alarms: int
    operators: int
    workstations: int
    audit_events: int

    def described(self) -> str:
        return (
            f"{self.size} bytes, schema {self.schema}, {self.alarms} alarms, "
            f"{self.operators} operators, {self.workstations} workstations, "
            f"{self.audit_events} audit events"
        )


@contextlib.contextmanager
def _connected(path: Path, *, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
    connection = sqlite3.connect(uri, uri=True, timeout=10)
    try:
        yield connection
    finally:
        connection.close()


def contents(path: Path) -> Contents:
    """The schema version and counts of a database of this product (raises BackupRefused
    for any other file)."""
    try:
        with _connected(path, read_only=True) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            if not set(_OWN_TABLES) <= tables:
                raise BackupRefused(f"{path} is not a database of Stiller Alarm")
            (schema,) = db.execute("SELECT version_num FROM alembic_version").fetchone() or ("",)

            def count(table: str) -> int:
                return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608 - our own table names

            return Contents(
                size=path.stat().st_size,
                schema=str(schema) or "none",
                alarms=count("alarms"),
                operators=count("operators"),
                workstations=count("workstations"),
                audit_events=count("audit_events"),
            )
    except sqlite3.Error as error:
        raise BackupRefused(f"{path} is not a readable SQLite database ({error})") from None


def backup(database: Path, target: Path, *, force: bool = False) -> Contents:
    """Copies the live ``database`` to ``target`` (created 0600) through the online backup
    API; an existing ``target`` is replaced only with ``force``, and only once the copy is
    complete."""
    if not database.is_file():  # connecting would create an empty one
        raise BackupRefused(f"no database at {database}")
    if target.exists() and not force:
        raise BackupRefused(f"{target} exists: choose another file or pass --force")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        _private_new(partial)
        with _connected(database) as source, _connected(partial) as copy:
            source.backup(copy)  # all pages in one step: one read transaction, one commit
            # One self-contained file: no -wal beside the copy to forget.
            copy.execute("PRAGMA journal_mode=DELETE")
        _fsync(partial)
        if force:
            os.replace(partial, target)
        else:
            os.link(partial, target)  # fails if the target appeared meanwhile: never overwritten
            partial.unlink()
        _fsync(target.parent)
    except FileExistsError:
        raise BackupRefused(f"{target} exists: choose another file or pass --force") from None
    except OSError as error:
        raise BackupRefused(f"cannot write {target}: {error.strerror}") from None
    except sqlite3.Error as error:
        raise BackupRefused(f"cannot copy {database}: {error}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return contents(target)


@dataclass(frozen=True)
class Restored:
    restored: Contents  # as the backup file held it
    migrated_to: str | None  # the schema it was brought to (None: it was current)
    kept: Path | None  # the replaced database, kept beside it


def check_restorable(source: Path) -> Contents:
    """The backup's contents, if this version can restore it."""
    if not source.is_file():
        raise BackupRefused(f"no file at {source}")
    with source.open("rb") as file:
        if file.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
            raise BackupRefused(f"{source} is not a SQLite database")
    found = contents(source)
    if found.schema not in known_revisions():
        raise BackupRefused(
            f"{source} is at schema {found.schema}, newer than this version's "
            f"{head_revision()}: restore it with the version that made it"
        )
    return found


def restore_stamp(now: datetime) -> str:
    """The time in the names of what a restore keeps aside (``before-restore-<stamp>``)."""
    return now.strftime("%Y%m%dT%H%M%SZ")


def restore(source: Path, database: Path, *, now: datetime | None = None) -> Restored:
    """Puts the backup ``source`` in place of ``database``, migrated to this version.

    The caller holds the database's serving lock, so no hub writes meanwhile. The copy
    is made and migrated beside the database, then renamed over it in one step; the
    replaced database (its -wal and -shm with it) is kept as
    ``<database>.before-restore-<timestamp>``.
    """
    found = check_restorable(source)
    stamp = restore_stamp(now or datetime.now(UTC))
    incoming = database.with_name(f".{database.name}.restoring-{stamp}")
    try:
        database.parent.mkdir(mode=0o750, parents=True, exist_ok=True)  # a fresh data dir
        _private_new(incoming)
        with _connected(source, read_only=True) as backup_file, _connected(incoming) as copy:
            backup_file.backup(copy)
        migrated_to = None
        if found.schema != head_revision():
            upgrade(f"sqlite+aiosqlite:///{incoming}")
            migrated_to = head_revision()
        _fsync(incoming)
        kept = _keep_replaced(database, stamp)
        os.replace(incoming, database)
        _fsync(database.parent)
    except OSError as error:
        raise BackupRefused(f"cannot restore into {database}: {error.strerror}") from None
    except sqlite3.Error as error:
        raise BackupRefused(f"cannot restore {source}: {error}") from None
    finally:
        for leftover in (incoming, *(Path(f"{incoming}{s}") for s in _COMPANIONS)):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return Restored(found, migrated_to, kept)


def _keep_replaced(database: Path, stamp: str) -> Path | None:
    """Keeps the current database as ``<database>.before-restore-<stamp>`` (a hard link, so
    the database's own name stays until the new one replaces it) and moves its -wal and
    -shm to the kept copy: a stale WAL beside the restored file would be read into it."""
    if not database.exists():  # a fresh data dir
        return None
    with contextlib.suppress(sqlite3.Error), _connected(database) as db:
        # No hub holds it: the last connection folds the WAL into the file.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    kept = database.with_name(f"{database.name}.before-restore-{stamp}")
    os.link(database, kept)
    for suffix in _COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{database}{suffix}", f"{kept}{suffix}")
    return kept


def _private_new(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _fsync(path: Path) -> None:
    """The file's (or folder's, for a rename) contents are on the disk before we go on."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
