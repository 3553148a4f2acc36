"""The hub's command line refuses unsafe settings and bad input: one line on stderr and a
non-zero exit, nothing stored."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from dispatch import demo
from dispatch.directory.site_scope import EVERY_SITE
from dispatch.directory.site_setup import create_building, create_floor, create_room, create_site
from dispatch.store import audit_key
from dispatch.store.database import Database
from dispatch.store.migrate import upgrade
from tests.support.commands import dispatch_cli


def test_serve_without_secret_exits_2_with_one_line(tmp_path: Path) -> None:
    result = dispatch_cli("serve", env={"SILENT_ALARM_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "SILENT_ALARM_SESSION_SECRET" in result.stderr


def test_bad_setting_exits_2_naming_it(tmp_path: Path) -> None:
    result = dispatch_cli("serve", env={"SILENT_ALARM_HEARTBEAT_INTERVAL": "-1"})
    assert result.returncode == 2
    assert "heartbeat_interval" in result.stderr


def test_operator_add_refuses_a_short_password(tmp_path: Path) -> None:
    assert dispatch_cli("migrate", env={"SILENT_ALARM_DATA_DIR": str(tmp_path)}).returncode == 0
    result = dispatch_cli(
        "operator",
        "add",
        "anna",
        "--role",
        "guard",
        "--name",
        "Anna",
        stdin="short\n",
        env={"SILENT_ALARM_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "12 characters" in result.stderr


def test_workstation_add_for_unknown_room_exits_2_and_stores_nothing(tmp_path: Path) -> None:
    env = {"SILENT_ALARM_DATA_DIR": str(tmp_path)}
    assert dispatch_cli("migrate", env=env).returncode == 0
    result = dispatch_cli("workstation", "add", "pc-x", "--room", "9.99", env=env)
    assert result.returncode == 2
    assert "9.99" in result.stderr
    assert result.stdout == ""  # no token printed for a workstation that was not stored


def test_the_hub_refuses_a_postgres_bus_on_sqlite(tmp_path: Path) -> None:
    env = {
        "SILENT_ALARM_BUS": "postgres",
        "SILENT_ALARM_DATA_DIR": str(tmp_path),
        "SILENT_ALARM_SESSION_SECRET": "x" * 40,
        "SILENT_ALARM_PORT": "0",
    }
    result = dispatch_cli("serve", env=env)  # no SILENT_ALARM_DATABASE_URL: SQLite
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("silent-alarm-dispatch: SILENT_ALARM_BUS=postgres needs a PostgreSQL")


def audit_events(data_dir: Path, action: str) -> list[tuple[str, dict[str, object]]]:
    """(actor, detail) of the events with this action in the store under ``data_dir``."""
    with sqlite3.connect(data_dir / "dispatch.sqlite3") as db:
        rows = db.execute(
            "SELECT actor, detail FROM audit_events WHERE action = ? ORDER BY id", (action,)
        ).fetchall()
    return [(actor, json.loads(detail)) for actor, detail in rows]


def test_operator_add_is_audited(tmp_path: Path) -> None:
    env = {"SILENT_ALARM_DATA_DIR": str(tmp_path)}
    assert dispatch_cli("migrate", env=env).returncode == 0
    password = "ein langes Passwort"
    result = dispatch_cli(
        "operator",
        "add",
        "anna",
        "--role",
        "admin",
        "--name",
        "Anna",
        stdin=f"{password}\n",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    ((actor, detail),) = audit_events(tmp_path, "operator_created")
    assert actor.startswith("cli")
    assert detail["username"] == "anna"
    assert detail["role"] == "admin"
    assert detail["site_ids"] == []
    assert password not in json.dumps(detail)
    verified = dispatch_cli("audit", "verify", env=env)
    assert verified.returncode == 0, verified.stderr  # keyed and chained like the hub's own


def test_workstation_add_is_audited(tmp_path: Path) -> None:
    env = {"SILENT_ALARM_DATA_DIR": str(tmp_path)}
    assert dispatch_cli("migrate", env=env).returncode == 0

    async def room_103() -> int:
        key = audit_key.load_or_create(tmp_path / "audit.key")
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'dispatch.sqlite3'}", audit_key=key)
        try:
            site = await create_site(db, "test", "Jobcenter", scope=EVERY_SITE)
            building = await create_building(db, "test", site.id, "Haus A", scope=EVERY_SITE)
            floor = await create_floor(db, "test", building.id, "1. OG", scope=EVERY_SITE)
            return (
                await create_room(db, "test", floor.id, "1.03", "Beratung 3", scope=EVERY_SITE)
            ).id
        finally:
            await db.dispose()

    room_id = asyncio.run(room_103())
    result = dispatch_cli(
        "workstation", "add", "pc-x", "--room", "1.03", "--role", "security", env=env
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    ((actor, detail),) = audit_events(tmp_path, "workstation_created")
    assert actor.startswith("cli")
    assert detail == {"site_id": 1, "role": "security", "display_name": ""}
    with sqlite3.connect(tmp_path / "dispatch.sqlite3") as db:
        assert db.execute(
            "SELECT workstation_id, room_id FROM audit_events WHERE action = 'workstation_created'"
        ).fetchall() == [("pc-x", room_id)]
        assert token not in str(db.execute("SELECT * FROM audit_events").fetchall())
    verified = dispatch_cli("audit", "verify", env=env)
    assert verified.returncode == 0, verified.stderr


def test_demo_seeding_is_audited(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dispatch.sqlite3'}"
    upgrade(url)

    async def seed() -> str:
        db = Database(url, audit_key=audit_key.load_or_create(tmp_path / "audit.key"))
        try:
            return (await demo.seed(db, tmp_path, "ws://127.0.0.1:1111/ws/agent")).password
        finally:
            await db.dispose()

    password = asyncio.run(seed())
    expected = {
        "site_created": 1,
        "building_created": 1,
        "floor_created": len(demo.FLOORS),
        "room_created": len(demo.ROOMS),
        "room_neighbour_set": len(demo.NEIGHBOURS),
        "workstation_created": len(demo.WORKSTATIONS),
        "operator_created": 1,
    }
    for action, count in expected.items():
        assert [actor for actor, _ in audit_events(tmp_path, action)] == [demo.ACTOR] * count
    with sqlite3.connect(tmp_path / "dispatch.sqlite3") as db:
        trail = str(db.execute("SELECT * FROM audit_events").fetchall())
    assert password not in trail
    verified = dispatch_cli("audit", "verify", env={"SILENT_ALARM_DATA_DIR": str(tmp_path)})
    assert verified.returncode == 0, verified.stderr
