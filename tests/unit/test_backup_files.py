"""The backup and restore of the SQLite store, on files in this process (dispatch/store/backup.py).

The commands around them run against a real hub in tests/integration/test_backup_restore.py;
here each refusal and each file the functions leave behind is checked directly.
"""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dispatch.store.backup import BackupRefused, backup, check_restorable, restore
from dispatch.store.migrate import head_revision, upgrade

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def migrated(path: Path, revision: str = "head") -> Path:
    upgrade(f"sqlite+aiosqlite:///{path}", revision)
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_backup_is_one_private_self_contained_file_with_the_schema(tmp_path: Path) -> None:
    database = migrated(tmp_path / "dispatch.sqlite3")
    copy = backup(database, tmp_path / "backup.sqlite3")
    assert copy.schema == head_revision()
    assert (copy.alarms, copy.operators, copy.audit_events) == (0, 0, 0)
    assert mode(tmp_path / "backup.sqlite3") == 0o600
    assert not (tmp_path / "backup.sqlite3-wal").exists()
    assert [p.name for p in tmp_path.iterdir() if ".partial-" in p.name] == []
    assert "schema " + head_revision() in copy.described()


def test_a_backup_never_overwrites_without_force(tmp_path: Path) -> None:
    database = migrated(tmp_path / "dispatch.sqlite3")
    target = tmp_path / "backup.sqlite3"
    target.write_text("keep me", encoding="utf-8")
    with pytest.raises(BackupRefused, match="exists: choose another file or pass --force"):
        backup(database, target)
    assert target.read_text(encoding="utf-8") == "keep me"
    assert backup(database, target, force=True).schema == head_revision()


def test_a_backup_of_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(BackupRefused, match="no database at"):
        backup(tmp_path / "missing.sqlite3", tmp_path / "backup.sqlite3")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not a database at all", "is not a SQLite database"), (None, "no file at")],
)
def test_restore_refuses_what_is_not_a_sqlite_file(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    source = tmp_path / "source"
    if content is not None:
        source.write_bytes(content)
    with pytest.raises(BackupRefused, match=message):
        check_restorable(source)


def test_restore_refuses_another_programs_database(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(BackupRefused, match="is not a database of Stiller Alarm"):
        check_restorable(other)


def test_restore_refuses_a_newer_schema(tmp_path: Path) -> None:
    newer = migrated(tmp_path / "newer.sqlite3")
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(BackupRefused, match="schema 9999, newer than this version's"):
        check_restorable(newer)


def test_restore_into_a_fresh_folder_keeps_nothing_aside(tmp_path: Path) -> None:
    source = backup(migrated(tmp_path / "a.sqlite3"), tmp_path / "backup.sqlite3")
    database = tmp_path / "fresh" / "dispatch.sqlite3"
    restored = restore(tmp_path / "backup.sqlite3", database, now=NOW)
    assert (restored.restored, restored.migrated_to, restored.kept) == (source, None, None)
    assert mode(database) == 0o600
    assert [p.name for p in database.parent.iterdir()] == ["dispatch.sqlite3"]


def test_restore_keeps_the_replaced_database_and_migrates_an_older_backup(
    tmp_path: Path,
) -> None:
    older = migrated(tmp_path / "older.sqlite3", "0009")
    database = migrated(tmp_path / "dispatch.sqlite3")
    restored = restore(older, database, now=NOW)
    assert restored.restored.schema == "0009"
    assert restored.migrated_to == head_revision()
    assert restored.kept == tmp_path / "dispatch.sqlite3.before-restore-20261206T120000Z"
    assert restored.kept.exists()
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == (
            head_revision(),
        )
