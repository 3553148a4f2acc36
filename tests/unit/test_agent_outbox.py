"""The outbox keeps alarms on disk until they are stored (across processes: tests/agent)."""

from __future__ import annotations

import uuid
from pathlib import Path

from agent.outbox import OUTBOX_FILE, Outbox
from shared.domain import AlarmLevel, Trigger
from shared.protocol import RaiseAlarm, utc_now


def alarm(level: AlarmLevel = AlarmLevel.THREAT) -> RaiseAlarm:
    return RaiseAlarm(
        alarm_id=uuid.uuid4(), level=level, trigger=Trigger.HOTKEY, raised_at=utc_now()
    )


def test_add_pending_mark_stored(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    first, second, third = alarm(), alarm(AlarmLevel.DANGER), alarm()
    for a in (first, second, third):
        outbox.add(a)
    assert outbox.pending() == [first, second, third]  # oldest first, content intact
    assert outbox.mark_stored(second.alarm_id)
    assert not outbox.mark_stored(second.alarm_id)
    assert outbox.pending() == [first, third]
    outbox.close()
    assert (tmp_path / OUTBOX_FILE).exists()
    assert "v1" in OUTBOX_FILE


def test_adding_the_same_alarm_twice_keeps_one(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    a = alarm()
    outbox.add(a)
    outbox.add(a)
    assert outbox.pending() == [a]
    outbox.close()


def test_wal_and_full_sync(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    assert outbox._db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert outbox._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    outbox.close()
