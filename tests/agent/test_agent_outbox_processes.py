"""The outbox across processes: an alarm survives a SIGKILL right after it was added, and two
processes write one outbox at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

from agent.outbox import Outbox
from shared.domain import AlarmLevel, Trigger
from shared.protocol import RaiseAlarm, utc_now


def alarm() -> RaiseAlarm:
    return RaiseAlarm(
        alarm_id=uuid.uuid4(), level=AlarmLevel.THREAT, trigger=Trigger.HOTKEY, raised_at=utc_now()
    )


def test_alarm_survives_sigkill_right_after_add(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time, uuid
        from pathlib import Path
        from agent.outbox import Outbox
        from shared.protocol import RaiseAlarm, utc_now
        a = RaiseAlarm(alarm_id=uuid.UUID({str(uuid.uuid4())!r}), level=3, trigger="cli",
                       raised_at=utc_now())
        Outbox(Path({str(tmp_path)!r})).add(a)
        print(a.alarm_id, flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        alarm_id = proc.stdout.readline().strip()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    outbox = Outbox(tmp_path)
    pending = outbox.pending()
    outbox.close()
    assert [str(a.alarm_id) for a in pending] == [alarm_id]
    assert pending[0].level is AlarmLevel.DANGER


def test_two_processes_share_the_outbox(tmp_path: Path) -> None:
    here = Outbox(tmp_path)
    mine = alarm()
    here.add(mine)
    script = textwrap.dedent(
        f"""
        import uuid
        from pathlib import Path
        from agent.outbox import Outbox
        from shared.protocol import RaiseAlarm, utc_now
        box = Outbox(Path({str(tmp_path)!r}))
        for _ in range(50):
            box.add(RaiseAlarm(alarm_id=uuid.uuid4(), level=1, trigger="cli",
                               raised_at=utc_now()))
        assert box.mark_stored(uuid.UUID({str(mine.alarm_id)!r}))
        box.close()
        """
    )
    other = subprocess.Popen([sys.executable, "-c", script])
    for _ in range(50):
        here.add(alarm())  # concurrent writers must not raise "database is locked"
    assert other.wait(30) == 0
    pending = here.pending()
    here.close()
    assert len(pending) == 100
    assert mine.alarm_id not in {a.alarm_id for a in pending}
