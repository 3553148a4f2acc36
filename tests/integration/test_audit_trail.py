"""The audit trail records every step of an alarm, and `audit verify` detects tampering."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from dispatch.store.audit import GENESIS, event_hash
from shared.protocol import AlarmNotify, AlarmStored, Receipt
from tests.integration.conftest import Connect
from tests.support.hub import RunningHub, query


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
    # The demo's set-up is audited too (actor "demo"); the alarm adds four events.
    (seeded,) = query(demo_hub, "SELECT count(*) FROM audit_events WHERE actor = 'demo'")[0]
    assert seeded == 21
    assert result.stdout.startswith(f"{seeded + 4} events, chain intact")


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


# --- an insider with write access to the database, but not to the key or the anchors ---

FAST_ANCHORS = {
    "SILENT_ALARM_HEARTBEAT_INTERVAL": "1",
    "SILENT_ALARM_REDELIVER_INTERVAL": "0.5",
    "SILENT_ALARM_HANDSHAKE_TIMEOUT": "2",
    "SILENT_ALARM_AUDIT_ANCHOR_INTERVAL": "1",
}


NO_ANCHORS_YET = {**FAST_ANCHORS, "SILENT_ALARM_AUDIT_ANCHOR_INTERVAL": "3600"}


async def receipts_written(hub: RunningHub) -> None:
    """The receipt's event is written in a batch of its own, after the alarm's."""
    await wait_for(lambda: bool(query(hub, RECEIPT_EVENT)), 10)


RECEIPT_EVENT = "SELECT 1 FROM audit_events WHERE action = 'alarm_delivered'"


def rehash_from(hub: RunningHub, first_id: int, key: bytes | None = None) -> None:
    """What an insider does after changing a row: recompute every later hash and link."""
    with sqlite3.connect(hub.data_dir / "dispatch.sqlite3") as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM audit_events ORDER BY id").fetchall()
        previous = GENESIS
        for row in rows:
            if row["id"] >= first_id:
                fields = SimpleNamespace(**dict(row))
                fields.at = datetime.fromisoformat(row["at"]).replace(tzinfo=UTC)  # stored naive
                new = event_hash(previous, fields, key)
                db.execute(
                    "UPDATE audit_events SET previous_hash = ?, hash = ? WHERE id = ?",
                    (previous, new, row["id"]),
                )
                previous = new
            else:
                previous = row["hash"]


def last_event_id(hub: RunningHub) -> int:
    (found,) = query(hub, "SELECT max(id) FROM audit_events")[0]
    assert isinstance(found, int)
    return found


async def anchored_head(hub: RunningHub) -> int:
    """Waits until the hub has anchored the newest event (it logs each anchor)."""

    def anchored() -> int:
        ids = [int(m) for m in ANCHOR_LOG.findall(hub.log())]
        return max(ids, default=0)

    await wait_for(lambda: anchored() == last_event_id(hub), 10)
    return anchored()


ANCHOR_LOG = re.compile(r'\{"event_id": (\d+), "hash": "[0-9a-f]{64}", "event": "audit_anchor"')


async def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("demo_hub_env", [NO_ANCHORS_YET])
async def test_a_changed_event_rehashed_without_the_key_is_detected(
    agent: Connect, demo_hub: RunningHub
) -> None:
    await raise_and_deliver(agent)
    await receipts_written(demo_hub)
    tamper(demo_hub, "UPDATE audit_events SET actor = 'workstation:pc-1-05' WHERE id = 2")
    # The rewrite is faithful: with the hub's own key it would pass (the key is the secret).
    key = bytes.fromhex((demo_hub.data_dir / "audit.key").read_text().strip())
    rehash_from(demo_hub, 2, key)
    assert verify(demo_hub).returncode == 0
    rehash_from(demo_hub, 2)  # without the key, as the unkeyed chain of before allowed
    result = verify(demo_hub)
    assert result.returncode == 1
    assert "event 2: content changed, or hashed without the audit key" in result.stderr


@pytest.mark.parametrize("demo_hub_env", [NO_ANCHORS_YET])
async def test_a_chain_rehashed_with_a_guessed_key_is_detected(
    agent: Connect, demo_hub: RunningHub
) -> None:
    await raise_and_deliver(agent)
    await receipts_written(demo_hub)
    tamper(demo_hub, "UPDATE audit_events SET actor = 'workstation:pc-1-05' WHERE id = 1")
    rehash_from(demo_hub, 1, key=b"\x00" * 32)
    result = verify(demo_hub)
    assert result.returncode == 1
    assert "event 1: content changed, or hashed without the audit key" not in result.stderr
    assert "event 1: content changed" in result.stderr  # no event is keyed any more


async def test_an_appended_event_is_detected(agent: Connect, demo_hub: RunningHub) -> None:
    await raise_and_deliver(agent)
    await receipts_written(demo_hub)
    forged = SimpleNamespace(
        at=datetime.now(UTC),
        actor="operator:wache",
        action="alarm_resolved",
        alarm_id=None,
        workstation_id=None,
        room_id=None,
        detail="{}",
    )
    # The head read and the forged row written in one write transaction: the hub may append
    # an event of its own (a PC's visit) at any moment, and the forgery must follow the head.
    db = sqlite3.connect(demo_hub.data_dir / "dispatch.sqlite3", isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        head = str(
            db.execute("SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1").fetchone()[0]
        )
        written = db.execute(
            "INSERT INTO audit_events (at, actor, action, detail, previous_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                forged.at.replace(tzinfo=None).isoformat(sep=" "),
                forged.actor,
                forged.action,
                forged.detail,
                head,
                event_hash(head, forged),
            ),
        )
        db.execute("COMMIT")
    finally:
        db.close()
    result = verify(demo_hub)
    assert result.returncode == 1
    assert f"event {written.lastrowid}: content changed" in result.stderr


@pytest.mark.parametrize("demo_hub_env", [FAST_ANCHORS])
async def test_events_cut_off_the_end_are_detected_against_the_anchors(
    agent: Connect, demo_hub: RunningHub
) -> None:
    await raise_and_deliver(agent)
    head = await anchored_head(demo_hub)
    assert verify(demo_hub).returncode == 0
    with sqlite3.connect(demo_hub.data_dir / "dispatch.sqlite3") as db:
        db.execute("DELETE FROM audit_events WHERE id >= ?", (head - 1,))
    result = verify(demo_hub)
    assert result.returncode == 1
    assert f"anchored event {head} is missing" in result.stderr


@pytest.mark.parametrize("demo_hub_env", [FAST_ANCHORS])
async def test_a_forged_anchor_line_is_detected(agent: Connect, demo_hub: RunningHub) -> None:
    await raise_and_deliver(agent)
    await anchored_head(demo_hub)
    anchors = demo_hub.data_dir / "audit-anchors.jsonl"
    with anchors.open("a", encoding="ascii") as file:
        file.write('{"event_id": 1, "hash": "' + "0" * 64 + '", "mac": "' + "0" * 64 + '"}\n')
    result = verify(demo_hub)
    assert result.returncode == 1
    assert "was not made with this audit key" in result.stderr


async def test_the_key_and_the_anchors_are_private_files(
    agent: Connect, demo_hub: RunningHub
) -> None:
    await raise_and_deliver(agent)
    assert stat.S_IMODE((demo_hub.data_dir / "audit.key").stat().st_mode) == 0o600


@pytest.mark.parametrize("demo_hub_env", [FAST_ANCHORS])
async def test_a_chain_rewritten_from_scratch_without_the_key_fails_its_anchors(
    agent: Connect, demo_hub: RunningHub
) -> None:
    """Every event re-hashed plainly looks like a chain from before keys; the anchors do not."""
    await raise_and_deliver(agent)
    await receipts_written(demo_hub)
    head = await anchored_head(demo_hub)
    tamper(demo_hub, "UPDATE audit_events SET actor = 'workstation:pc-1-05' WHERE id = 1")
    rehash_from(demo_hub, 1)
    result = verify(demo_hub)
    assert result.returncode == 1
    assert "differs from its anchor (chain re-hashed)" in result.stderr
    assert head > 0
