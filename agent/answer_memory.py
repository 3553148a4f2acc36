"""What this person answered to colleagues' alarms, kept across an agent restart.

The hub sends every open alarm again when an agent connects. An agent restarted
meanwhile (a crash, a new login, an update) forgot what its person had answered
and asked again, ringing, about alarms they had already said "Ich komme" or
"Kann nicht" to. The steps live in a small SQLite file beside the outbox, for a
day; an alarm that ended is forgotten at once. A file that cannot be read or
written costs only this memory: the popup asks again, as before.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

# The format version is part of the name: a future format gets a new file.
ANSWERS_FILE = "answers-v1.sqlite3"
KEEP_S = 24 * 3600.0
"""Longer than any alarm stays open; older steps are dropped when the file is opened."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answered (
    alarm_id TEXT PRIMARY KEY,
    step TEXT NOT NULL,
    at REAL NOT NULL
)
"""


class AnswerMemory:
    """Each alarm's step with this person ("coming", "done"), by alarm id."""

    def __init__(self, data_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                data_dir / ANSWERS_FILE, timeout=5.0, isolation_level=None,
                check_same_thread=False,
            )  # fmt: skip
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
            self._db.execute("DELETE FROM answered WHERE at < ?", (clock() - KEEP_S,))
        except (OSError, sqlite3.Error) as error:
            log.warning("answers not kept across restarts: %s", error)
            self._db = None

    def recall(self, alarm_id: uuid.UUID) -> str | None:
        rows = self._run("SELECT step FROM answered WHERE alarm_id = ?", (str(alarm_id),))
        return str(rows[0][0]) if rows else None

    def remember(self, alarm_id: uuid.UUID, step: str) -> None:
        self._run(
            "INSERT INTO answered (alarm_id, step, at) VALUES (?, ?, ?)"
            " ON CONFLICT (alarm_id) DO UPDATE SET step = excluded.step, at = excluded.at",
            (str(alarm_id), step, self._clock()),
        )

    def forget(self, alarm_id: uuid.UUID) -> None:
        self._run("DELETE FROM answered WHERE alarm_id = ?", (str(alarm_id),))

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _run(self, sql: str, params: tuple[object, ...]) -> list[tuple[object, ...]]:
        with self._lock:
            if self._db is None:
                return []
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as error:
                log.warning("answer memory: %s", error)
                return []
