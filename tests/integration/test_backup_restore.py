"""`backup` copies the live database while the hub writes, `restore` puts it back into a fresh
hub that finds every alarm, operator and mapping, with an intact audit chain (issue 18)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
from alembic import command

from dispatch.store.migrate import alembic_config, head_revision
from shared.domain import AlarmLevel
from shared.protocol import (
    AlarmNotify,
    AlarmStored,
)
from tests.integration.conftest import agents_of, resolved_and_open_alarms
from tests.support.commands import command_env, dispatch_cli
from tests.support.hub import TEST_RESERVE_BYTES, RunningHub, free_port, start_demo_hub
from tests.support.login import http_login
from tests.support.operators import API
from tests.support.waiting import until
from tests.support.wsclient import connect_agent

NEW_OPERATOR = ("wache2", "Restore-Probe-Passwort-2026")


def rows(database: Path, sql: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return db.execute(sql).fetchall()


def cli_in(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return dispatch_cli(*args, stdin=stdin, env={"SILENT_ALARM_DATA_DIR": str(data_dir)})


def one_line_refusal(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode == 2, result
    assert result.stderr.count("\n") == 1, result.stderr
    assert words in result.stderr, result.stderr


@contextlib.contextmanager
def serving(data_dir: Path) -> Iterator[RunningHub]:
    """`silent-alarm-dispatch serve` on a data dir, as the package's service runs it."""
    port, log_path = free_port(), data_dir / "serve.log"
    env = command_env(
        {
            "SILENT_ALARM_DATA_DIR": str(data_dir),
            "SILENT_ALARM_SESSION_SECRET": secrets.token_urlsafe(32),
            "SILENT_ALARM_DISK_RESERVE_BYTES": str(TEST_RESERVE_BYTES),
        }
    )
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "dispatch", "serve", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    hub = RunningHub(process, port, data_dir, log_path)
    try:
        deadline = time.monotonic() + 30
        with httpx.Client(timeout=1) as probe:  # one client: see start_demo_hub
            while True:
                assert process.poll() is None, hub.log()[-3000:]
                with contextlib.suppress(httpx.HTTPError):
                    if probe.get(f"{hub.url}/readyz").status_code == 200:
                        break
                assert time.monotonic() < deadline, f"not ready within 30 s:\n{hub.log()[-3000:]}"
                time.sleep(0.05)
        yield hub
    finally:
        hub.stop()


async def fill(hub: RunningHub) -> tuple[uuid.UUID, uuid.UUID]:
    """A resolved alarm with its report, an open one, an operator added through the CLI and
    a room moved by a mapping import: every kind of record a restore must bring back."""
    resolved, still_open = await resolved_and_open_alarms(hub)
    added = hub.cli(
        "operator", "add", NEW_OPERATOR[0], "--role", "admin", "--name", "Wache Zwei",
        stdin=NEW_OPERATOR[1] + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    mapping = hub.data_dir / "moves.csv"
    mapping.write_text("workstation_id,room_number\npc-1-05,1.03\n", encoding="utf-8")
    imported = hub.cli("mapping", "import", str(mapping))
    assert imported.returncode == 0, imported.stderr
    return resolved, still_open


async def backup_while_writing(hub: RunningHub, target: Path) -> tuple[str, set[str]]:
    """`backup` while an agent keeps raising alarms; its output and the alarms stored
    before it started."""
    stored: list[str] = []
    async with agents_of(hub) as agent:
        writer = await agent("pc-1-03")

        async def keep_writing() -> None:
            while True:
                sent = await writer.raise_alarm(level=AlarmLevel.SUPPORT)
                await writer.expect(AlarmStored, alarm_id=sent.alarm_id)
                stored.append(str(sent.alarm_id))

        writing = asyncio.create_task(keep_writing())
        try:
            await until(lambda: len(stored) >= 3 or writing.done(), what="writes under way")
            assert not writing.done()
            before = set(stored)
            result = await asyncio.to_thread(hub.cli, "backup", str(target))
            assert not writing.done()  # the hub kept storing alarms throughout
        finally:
            writing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writing
    assert result.returncode == 0, result.stderr
    return result.stdout, before


async def test_a_backup_taken_while_the_hub_writes_restores_into_a_fresh_hub(
    tmp_path: Path,
) -> None:
    source = start_demo_hub(tmp_path / "hub")
    target = tmp_path / "backups" / "dispatch-backup.sqlite3"
    target.parent.mkdir()
    try:
        resolved, still_open = await fill(source)
        output, stored_before = await backup_while_writing(source, target)
        # Refused while the hub serves its database: one line, nothing replaced.
        one_line_refusal(source.cli("restore", str(target)), "a hub serves database")
        token = source.agent_config("pc-1-02")["token"]
    finally:
        source.stop()
    live = source.data_dir / "dispatch.sqlite3"

    # What it wrote, and from where; the audit key is said to be kept apart.
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    (alarms,) = rows(target, "SELECT count(*) FROM alarms")[0]
    (audit_events,) = rows(target, "SELECT count(*) FROM audit_events")[0]
    assert output.splitlines()[0] == (
        f"backup {target}: {target.stat().st_size} bytes, schema {head_revision()}, "
        f"{alarms} alarms, 2 operators, 6 workstations, {audit_events} audit events "
        f"(database {live})"
    )
    assert f"the audit key {source.data_dir / 'audit.key'} is not in the backup" in output
    assert rows(target, "PRAGMA quick_check") == [("ok",)]
    # The operator committed before the backup is in it (a `cp` of the file lost one), and
    # every alarm stored before it started; nothing in it the hub did not store.
    assert (NEW_OPERATOR[0],) in rows(target, "SELECT username FROM operators")
    in_backup = {str(uuid.UUID(str(r[0]))) for r in rows(target, "SELECT id FROM alarms")}
    in_hub = {str(uuid.UUID(str(r[0]))) for r in rows(live, "SELECT id FROM alarms")}
    assert stored_before | {str(resolved), str(still_open)} <= in_backup <= in_hub

    # Restored into a fresh data dir, its audit key copied beside as the docs say.
    fresh = tmp_path / "fresh"
    restored = cli_in(fresh, "restore", str(target))
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.splitlines()[0].startswith(f"restored {target}: ")
    assert f"no audit key at {fresh / 'audit.key'}" in restored.stderr
    shutil.copy2(source.data_dir / "audit.key", fresh / "audit.key")
    assert stat.S_IMODE((fresh / "dispatch.sqlite3").stat().st_mode) == 0o600

    with serving(fresh) as hub:
        # The operator added through the CLI logs in; the hub knows every operator,
        # the resolved incident, and the room the mapping import moved pc-1-05 to.
        with http_login(hub, *NEW_OPERATOR) as admin:
            usernames = {o["username"] for o in admin.get(f"{API}/operators").json()}
            assert usernames == {source.login.username, NEW_OPERATOR[0]}
            incidents = {i["alarm_id"] for i in admin.get(f"{API}/incidents").json()}
            assert str(resolved) in incidents
            rooms = {w["id"]: w["room_number"] for w in admin.get(f"{API}/workstations").json()}
            assert rooms["pc-1-05"] == "1.03"
        # The open alarm is replayed to its recipient when it connects.
        neighbour = await connect_agent(hub.agent_ws_url, "pc-1-02", token)
        try:
            await neighbour.expect(AlarmNotify, alarm_id=still_open)
        finally:
            await neighbour.close()
        restored_alarms = rows(fresh / "dispatch.sqlite3", "SELECT id FROM alarms")
        assert {str(uuid.UUID(str(r[0]))) for r in restored_alarms} == in_backup

    verified = cli_in(fresh, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert ", chain intact, keyed from event " in verified.stdout  # checked with the key


def make_backup(tmp_path: Path) -> Path:
    """A backup of a migrated, empty database (no hub needed)."""
    data_dir = tmp_path / "made"
    assert cli_in(data_dir, "migrate").returncode == 0
    target = tmp_path / "made.sqlite3"
    assert cli_in(data_dir, "backup", str(target)).returncode == 0
    return target


def test_backup_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    target = make_backup(tmp_path)
    kept = target.read_bytes()
    one_line_refusal(cli_in(tmp_path / "made", "backup", str(target)), "pass --force")
    assert target.read_bytes() == kept
    forced = cli_in(tmp_path / "made", "backup", "--force", str(target))
    assert forced.returncode == 0, forced.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_restore_refuses_what_is_not_a_backup_of_this_product(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert cli_in(data_dir, "migrate").returncode == 0
    database = data_dir / "dispatch.sqlite3"
    before = database.read_bytes()
    text = tmp_path / "notes.txt"
    text.write_text("kein Backup\n", encoding="utf-8")
    other = tmp_path / "other.sqlite3"
    with contextlib.closing(sqlite3.connect(other)) as db:
        db.execute("CREATE TABLE t (x)")
    newer = make_backup(tmp_path)
    with contextlib.closing(sqlite3.connect(newer)) as db, db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    one_line_refusal(cli_in(data_dir, "restore", str(text)), "is not a SQLite database")
    one_line_refusal(cli_in(data_dir, "restore", str(other)), "not a database of Stiller Alarm")
    one_line_refusal(cli_in(data_dir, "restore", str(newer)), "at schema 9999, newer than")
    one_line_refusal(cli_in(data_dir, "restore", str(tmp_path / "missing")), "no file at")
    assert database.read_bytes() == before
    assert sorted(p.name for p in data_dir.iterdir() if "restor" in p.name) == []


def test_an_older_backup_is_migrated_and_the_replaced_database_kept(tmp_path: Path) -> None:
    older = make_backup(tmp_path)
    command.downgrade(alembic_config(f"sqlite+aiosqlite:///{older}"), "-1")
    (was,) = rows(older, "SELECT version_num FROM alembic_version")[0]
    data_dir = tmp_path / "data"
    assert cli_in(data_dir, "migrate").returncode == 0
    database = data_dir / "dispatch.sqlite3"
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        db.execute("CREATE TABLE marker_of_the_replaced (x)")  # to tell the two apart
    result = cli_in(data_dir, "restore", str(older))
    assert result.returncode == 0, result.stderr
    assert f"migrated from schema {was} to {head_revision()}" in result.stdout
    assert rows(database, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    (kept,) = [p for p in data_dir.iterdir() if ".before-restore-" in p.name]
    assert f"the replaced database is kept as {kept}" in result.stdout
    assert rows(kept, "SELECT name FROM sqlite_master WHERE name = 'marker_of_the_replaced'")
    assert not rows(
        database, "SELECT name FROM sqlite_master WHERE name = 'marker_of_the_replaced'"
    )
    assert not Path(f"{database}-wal").exists() or Path(f"{database}-wal").stat().st_size == 0
    assert cli_in(data_dir, "mapping", "export").returncode == 0  # usable by this version


def test_postgresql_is_pointed_at_pg_dump_and_pg_restore(tmp_path: Path) -> None:
    env = {"SILENT_ALARM_DATABASE_URL": "postgresql+asyncpg://hub@127.0.0.1:1/nowhere"}
    for verb, tool in (("backup", "use pg_dump"), ("restore", "use pg_restore")):
        result = dispatch_cli(verb, str(tmp_path / "file"), env=env)
        one_line_refusal(result, tool)
        assert "hub@127.0.0.1:1/nowhere" in result.stderr  # names the database it acts on
    assert not (tmp_path / "file").exists()
    assert os.listdir(tmp_path) == []
