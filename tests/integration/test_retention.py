"""`silent-alarm-dispatch prune` on a running hub's store: old resolved alarms and audit events
go, open alarms stay, the incidents and statistics no longer show them, `audit verify` passes.

Rows are aged in the SQLite file directly (alarms) or written with an earlier clock through the
real audit trail before the hub starts (audit events: their time is inside their keyed hash).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from dispatch.store import audit_key
from dispatch.store.audit import AuditTrail
from dispatch.store.audit_anchors import Anchor, anchor_line
from dispatch.store.database import Database, core_table
from dispatch.store.models import AuditEvent
from shared.protocol import (
    utc_now,
)
from tests.integration.conftest import resolved_and_open_alarms
from tests.support.commands import dispatch_cli
from tests.support.hub import RunningHub, query, start_demo_hub
from tests.support.login import http_login
from tests.support.operators import API
from tests.support.waiting import until

ADMIN = ("admin2", "Aufbewahrung-Probe-2026")
AGED_DAYS = 1200  # past every default retention (alarms 730, audit 1095)
AGED_EVENTS = 3
_EVENTS = core_table(AuditEvent)
HEAD = select(_EVENTS.c.id, _EVENTS.c.hash).order_by(_EVENTS.c.id.desc()).limit(1)


def cli_in(data_dir: Path, *args: str, stdin: str = "") -> str:
    result = dispatch_cli(*args, stdin=stdin, env={"SILENT_ALARM_DATA_DIR": str(data_dir)})
    assert result.returncode == 0, result.stderr
    return result.stdout


async def write_aged_events(data_dir: Path) -> int:
    """Audit events from a hub that ran years ago, and the anchor it recorded then; the
    anchored event's id."""
    key = audit_key.load_or_create(data_dir / "audit.key")
    db = Database(f"sqlite+aiosqlite:///{data_dir / 'dispatch.sqlite3'}", audit_key=key)
    try:
        async with db.write() as session:
            trail = await AuditTrail.open(session)
            for number in range(AGED_EVENTS):
                old = utc_now() - timedelta(days=AGED_DAYS - number)
                trail.append("cli:admin", "operator_added", at=old, n=number)
        head = (await db.rows(HEAD, {}))[0]
    finally:
        await db.dispose()
    (data_dir / "audit-anchors.jsonl").write_text(
        anchor_line(key, Anchor(head.id, head.hash)), encoding="ascii"
    )
    return int(head.id)


def age(hub: RunningHub, alarm_id: uuid.UUID) -> None:
    """Moves an alarm's times back AGED_DAYS, as if it had been raised then."""
    shift = f"-{AGED_DAYS} days"
    store = hub.data_dir / "dispatch.sqlite3"
    with contextlib.closing(sqlite3.connect(store, timeout=5)) as db, db:
        db.execute(
            "UPDATE alarms SET raised_at = datetime(raised_at, ?),"
            " stored_at = datetime(stored_at, ?),"
            " acknowledged_at = datetime(acknowledged_at, ?),"
            " resolved_at = datetime(resolved_at, ?) WHERE id = ?",
            (shift, shift, shift, shift, str(alarm_id)),
        )


def incidents_and_count(client: httpx.Client, year: int) -> tuple[set[str], int]:
    period = {"from": f"{year}-01-01", "to": f"{year}-12-31"}
    incidents = client.get(f"{API}/incidents", params=period)
    statistics = client.get(f"{API}/statistics", params=period)
    assert incidents.status_code == statistics.status_code == 200, incidents.text
    return {i["alarm_id"] for i in incidents.json()}, statistics.json()["total"]["alarms"]


def alarm_ids(hub: RunningHub) -> set[str]:
    return {str(uuid.UUID(str(row[0]))) for row in query(hub, "SELECT id FROM alarms")}


async def test_prune_on_a_running_hub_removes_old_alarms_and_events_and_verify_passes(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "hub"
    data_dir.mkdir()
    cli_in(data_dir, "migrate")
    anchored = await write_aged_events(data_dir)
    hub = start_demo_hub(data_dir)
    try:
        cli_in(hub.data_dir, "operator", "add", ADMIN[0], "--role", "admin",
               "--name", "Verwaltung", stdin=ADMIN[1] + "\n")  # fmt: skip
        old, still_open = await resolved_and_open_alarms(hub)
        age(hub, old)
        age(hub, still_open)  # open however old: kept
        _recent, _ = await resolved_and_open_alarms(hub)
        aged_year = (utc_now() - timedelta(days=AGED_DAYS)).year
        with http_login(hub, *ADMIN) as admin:
            assert incidents_and_count(admin, aged_year) == ({str(old)}, 2)

            dry = cli_in(hub.data_dir, "prune", "--dry-run").splitlines()
            assert dry[:3] == [
                "alarms and drills: would delete 1 (kept 730 days)",
                "self-tests: would delete 0 (kept 30 days)",
                f"audit events: would delete {AGED_EVENTS}, up to event {anchored} "
                "(kept 1095 days)",
            ]
            assert dry[3].startswith("dry run, nothing deleted (database ")
            assert str(old) in alarm_ids(hub)

            done = cli_in(hub.data_dir, "prune").splitlines()
            assert done[:3] == [
                "alarms and drills: deleted 1 (kept 730 days)",
                "self-tests: deleted 0 (kept 30 days)",
                f"audit events: deleted {AGED_EVENTS}, up to event {anchored} (kept 1095 days)",
            ]
            assert done[3].startswith("pruned (database ")
            assert str(old) not in alarm_ids(hub)
            assert str(still_open) in alarm_ids(hub)
            # The incident list and the statistics no longer know the pruned alarm.
            assert incidents_and_count(admin, aged_year) == (set(), 1)

        verified = cli_in(hub.data_dir, "audit", "verify")
        assert ", chain intact, keyed from event " in verified
        assert f"starts after pruned event {anchored} (1 anchors of pruned events skipped)" in (
            verified
        )
        again = cli_in(hub.data_dir, "prune").splitlines()
        assert again[:3] == [
            "alarms and drills: deleted 0 (kept 730 days)",
            "self-tests: deleted 0 (kept 30 days)",
            "audit events: deleted 0 (kept 1095 days)",
        ]
        # The hub goes on storing and auditing alarms on the pruned chain.
        await resolved_and_open_alarms(hub)
        await asyncio.to_thread(cli_in, hub.data_dir, "audit", "verify")
    finally:
        hub.stop()
    assert "Traceback" not in hub.log()


async def test_the_hub_prunes_by_itself_after_its_start(tmp_path: Path) -> None:
    hub = start_demo_hub(tmp_path / "hub")
    try:
        old, still_open = await resolved_and_open_alarms(hub)
        age(hub, old)
        age(hub, still_open)
    finally:
        hub.stop()
    # Started again on the same store, its first retention run comes a second later.
    hub = start_demo_hub(hub.data_dir, env={"SILENT_ALARM_RETENTION_FIRST_RUN": "1"})
    try:
        await until(
            lambda: str(old) not in alarm_ids(hub), timeout=20, what="the hub's first prune"
        )
        assert str(still_open) in alarm_ids(hub)
        await until(lambda: "retention_pruned" in hub.log(), timeout=5, what="its log line")
        (actor,) = query(hub, "SELECT actor FROM audit_events WHERE action = 'retention_pruned'")
        assert actor == ("hub:retention",)
        assert ", chain intact, " in cli_in(hub.data_dir, "audit", "verify")
    finally:
        hub.stop()
