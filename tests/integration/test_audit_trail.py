"""The audit trail records every step of an alarm, and `audit verify` detects tampering."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

from shared.protocol import AlarmNotify, AlarmStored, Receipt
from tests.integration.conftest import Connect, query
from tests.support.hub import RunningHub


def verify(hub: RunningHub) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SILENT_ALARM_")}
    return subprocess.run(
        [sys.executable, "-m", "dispatch", "audit", "verify"],
        env={**env, "SILENT_ALARM_DATA_DIR": str(hub.data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def raise_and_deliver(agent: Connect) -> None:
    raiser, neighbour = await agent("pc-1-01"), await agent("pc-1-02")
    sent = await raiser.raise_alarm()
    await raiser.expect(AlarmStored)
    await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id)
    await neighbour.send(Receipt(alarm_id=sent.alarm_id))
    await raiser.raise_alarm(claimed_room="1.05")
    await raiser.expect(AlarmStored)


def tamper(hub: RunningHub, sql: str) -> None:
    with sqlite3.connect(hub.data_dir / "dispatch.sqlite3") as db:
        db.execute(sql)


async def test_untouched_trail_verifies(agent: Connect, demo_hub: RunningHub) -> None:
    await raise_and_deliver(agent)
    result = verify(demo_hub)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("4 events, chain intact")


async def test_changed_event_is_detected(agent: Connect, demo_hub: RunningHub) -> None:
    await raise_and_deliver(agent)
    tamper(demo_hub, "UPDATE audit_events SET actor = 'workstation:pc-1-05' WHERE id = 2")
    result = verify(demo_hub)
    assert result.returncode == 1
    assert "event 2: content changed" in result.stderr
    assert result.stderr.count("\n") == 1


async def test_deleted_event_is_detected(agent: Connect, demo_hub: RunningHub) -> None:
    await raise_and_deliver(agent)
    tamper(demo_hub, "DELETE FROM audit_events WHERE id = 2")
    result = verify(demo_hub)
    assert result.returncode == 1
    assert "event 3: link to the previous event broken" in result.stderr


async def test_no_token_or_message_content_in_the_trail(
    agent: Connect, demo_hub: RunningHub
) -> None:
    await raise_and_deliver(agent)
    token = demo_hub.agent_config("pc-1-01")["token"]
    for (detail,) in query(demo_hub, "SELECT detail FROM audit_events"):
        assert token not in str(detail)
