"""One hub process per SQLite file: a second one refuses to start instead of serving half a hub.

Several hub instances share alarms, consoles and revocations through PostgreSQL's
LISTEN/NOTIFY bus (``dispatch.net.bus``). On one SQLite file they would share the
rows but not the live events: a console on the second hub saw nothing of an alarm
raised through the first. So the serving process holds an exclusive lock on a file
beside the database for its whole life; the kernel lets go of it when the process
ends however it ends (kill -9 included), so a crash never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from dispatch.store.database import is_sqlite, sqlite_file

HANDOVER_WAIT_S = 10.0
"""How long a starting hub waits for the previous one on this file to stop (a restart:
the old process may take up to its 5 s graceful shutdown to let go)."""
_POLL_S = 0.05


class SqliteFileInUse(Exception):
    """Another hub process serves this SQLite file."""


def lock_path(database: str) -> Path:
    return Path(f"{database}.serving")


@contextlib.contextmanager
def sole_server(url: str, wait: float = HANDOVER_WAIT_S) -> Iterator[None]:
    """Holds the SQLite file for this process while the block runs (PostgreSQL: no lock).

    Raises SqliteFileInUse when another process still holds it after ``wait`` seconds.
    """
    database = sqlite_file(url) if is_sqlite(url) else None
    if database is None:
        yield
        return
    path = lock_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _acquire(descriptor, path, wait)
        with contextlib.suppress(OSError):  # only for the next one's message: a full disk
            os.ftruncate(descriptor, 0)  # must not stop the start (the hub then says it is
            os.write(descriptor, f"{os.getpid()}\n".encode())  # not ready, see store_health)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _acquire(descriptor: int, path: Path, wait: float) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = path.read_text(encoding="ascii", errors="replace").strip() or "?"
                raise SqliteFileInUse(
                    f"another hub (pid {holder}) serves {path.with_suffix('')}; "
                    "several hubs need PostgreSQL (docs/architecture.md)"
                ) from None
            time.sleep(_POLL_S)
