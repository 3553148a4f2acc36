"""Durable outbox: an alarm is on disk before it is sent and stays there until the hub stored it.

SQLite in WAL mode with synchronous=FULL survives a killed process; the tray
agent and the ``trigger`` command may use the same file at the same time.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from pathlib import Path

from shared.protocol import RaiseAlarm

# The format version is part of the name: a future format gets a new file.
OUTBOX_FILE = "outbox-v1.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending_alarm (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm_id TEXT NOT NULL UNIQUE,
    message TEXT NOT NULL,
    queued_at REAL NOT NULL
)
"""


class Outbox:
    """Alarms not yet acknowledged as stored by a hub, oldest first."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / OUTBOX_FILE
        self._lock = threading.Lock()
        # isolation_level=None: explicit statements only; each write commits at once.
        self._db = sqlite3.connect(
            self.path, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    def add(self, alarm: RaiseAlarm) -> None:
        """Persist the alarm durably; returns only once it is on disk."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO pending_alarm (alarm_id, message, queued_at)"
                " VALUES (?, ?, ?)",
                (str(alarm.alarm_id), alarm.model_dump_json(), time.time()),
            )

    def pending(self) -> list[RaiseAlarm]:
        """Every alarm the hub has not yet confirmed, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT message FROM pending_alarm ORDER BY seq").fetchall()
        return [RaiseAlarm.model_validate_json(message) for (message,) in rows]

    def mark_stored(self, alarm_id: uuid.UUID) -> bool:
        """Forget an alarm the hub has stored; True if it was still pending here."""
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM pending_alarm WHERE alarm_id = ?", (str(alarm_id),)
            )
        return cursor.rowcount > 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
