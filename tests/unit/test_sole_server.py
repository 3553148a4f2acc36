"""One hub process per SQLite file (dispatch/store/sole_server.py), on the lock file itself.

A second holder in this process stands for a second hub: flock locks belong to the
open file, so two opens of one file conflict as two processes would. The refusal of
a real second hub process is in tests/integration/test_sole_server.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dispatch.store.sole_server import SqliteFileInUse, lock_path, sole_server


def url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def test_a_second_holder_is_refused_naming_the_first_ones_pid(tmp_path: Path) -> None:
    database = tmp_path / "dispatch.sqlite3"
    with sole_server(url(database)):
        assert lock_path(str(database)).read_text(encoding="ascii") == f"{os.getpid()}\n"
        with (
            pytest.raises(SqliteFileInUse, match=f"another hub \\(pid {os.getpid()}\\) serves"),
            sole_server(url(database), wait=0.1),
        ):
            pass  # pragma: no cover - refused before the block runs
    with sole_server(url(database), wait=0):  # let go: the next one takes it at once
        pass


def test_postgresql_and_memory_databases_take_no_lock(tmp_path: Path) -> None:
    with sole_server("postgresql+asyncpg://hub@127.0.0.1/silent_alarm"):
        pass
    with sole_server("sqlite+aiosqlite:///:memory:"):
        pass
    assert list(tmp_path.iterdir()) == []
