"""Unsafe settings refuse to start; CLI errors are one line on stderr with a non-zero exit."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from dispatch import audit_key
from dispatch.app import create_app
from dispatch.auth import hash_password, hash_token, token_matches, verify_password
from dispatch.database import Database
from dispatch.settings import Settings
from dispatch.site_setup import create_building, create_floor, create_room, create_site


def run_cli(
    *args: str, stdin: str = "", env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    child_env = {k: v for k, v in os.environ.items() if not k.startswith("SILENT_ALARM_")}
    return subprocess.run(
        [sys.executable, "-m", "dispatch", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**child_env, **(env or {})},
        cwd=cwd,
        check=False,
    )


def test_short_session_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(session_secret="short")


def test_app_refuses_to_start_without_session_secret() -> None:
    with pytest.raises(ValueError, match="SILENT_ALARM_SESSION_SECRET"):
        create_app(Settings(session_secret=None))


def test_serve_without_secret_exits_2_with_one_line(tmp_path: Path) -> None:
    result = run_cli("serve", env={"SILENT_ALARM_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "SILENT_ALARM_SESSION_SECRET" in result.stderr


def test_bad_setting_exits_2_naming_it(tmp_path: Path) -> None:
    result = run_cli("serve", env={"SILENT_ALARM_HEARTBEAT_INTERVAL": "-1"})
    assert result.returncode == 2
    assert "heartbeat_interval" in result.stderr


def test_operator_add_refuses_a_short_password(tmp_path: Path) -> None:
    result = run_cli(
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
    assert run_cli("migrate", env=env).returncode == 0
    result = run_cli("workstation", "add", "pc-x", "--room", "9.99", env=env)
    assert result.returncode == 2
    assert "9.99" in result.stderr
    assert result.stdout == ""  # no token printed for a workstation that was not stored


def audit_events(data_dir: Path, action: str) -> list[tuple[str, dict[str, object]]]:
    """(actor, detail) of the events with this action in the store under ``data_dir``."""
    with sqlite3.connect(data_dir / "dispatch.sqlite3") as db:
        rows = db.execute(
            "SELECT actor, detail FROM audit_events WHERE action = ? ORDER BY id", (action,)
        ).fetchall()
    return [(actor, json.loads(detail)) for actor, detail in rows]


def test_operator_add_is_audited(tmp_path: Path) -> None:
    env = {"SILENT_ALARM_DATA_DIR": str(tmp_path)}
    assert run_cli("migrate", env=env).returncode == 0
    password = "ein langes Passwort"
    result = run_cli(
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
    verified = run_cli("audit", "verify", env=env)
    assert verified.returncode == 0, verified.stderr  # keyed and chained like the hub's own


def test_workstation_add_is_audited(tmp_path: Path) -> None:
    env = {"SILENT_ALARM_DATA_DIR": str(tmp_path)}
    assert run_cli("migrate", env=env).returncode == 0

    async def room_103() -> int:
        key = audit_key.load_or_create(tmp_path / "audit.key")
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'dispatch.sqlite3'}", audit_key=key)
        try:
            site = await create_site(db, "test", "Jobcenter")
            building = await create_building(db, "test", site.id, "Haus A")
            floor = await create_floor(db, "test", building.id, "1. OG")
            return (await create_room(db, "test", floor.id, "1.03", "Beratung 3")).id
        finally:
            await db.dispose()

    room_id = asyncio.run(room_103())
    result = run_cli("workstation", "add", "pc-x", "--room", "1.03", "--role", "security", env=env)
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
    verified = run_cli("audit", "verify", env=env)
    assert verified.returncode == 0, verified.stderr


def test_device_tokens_are_stored_as_hashes() -> None:
    digest = hash_token("secret-token")
    assert "secret-token" not in digest
    assert len(digest) == 64
    assert token_matches(digest, "secret-token")
    assert not token_matches(digest, "other")


def test_passwords_use_argon2() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "wrong")
    assert not verify_password(None, "anything")


def test_every_setting_is_documented() -> None:
    documented = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    missing = [
        name for name in Settings.model_fields if f"SILENT_ALARM_{name.upper()}" not in documented
    ]
    assert not missing, f"add to docs/configuration.md: {missing}"


def test_demo_restarted_on_another_port_points_its_agents_there(tmp_path: Path) -> None:
    import tomllib

    from dispatch import demo
    from dispatch.database import Database
    from dispatch.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}"
    upgrade(url)

    async def seed() -> None:
        db = Database(url)
        try:
            await demo.seed(db, tmp_path, "ws://127.0.0.1:1111/ws/agent")
        finally:
            await db.dispose()

    asyncio.run(seed())
    config = tmp_path / demo.AGENTS_DIR / "pc-1-01.toml"
    token = tomllib.loads(config.read_text())["token"]
    demo.point_agents_at(tmp_path, "ws://127.0.0.1:2222/ws/agent")
    moved = tomllib.loads(config.read_text())
    assert moved["hub_urls"] == ["ws://127.0.0.1:2222/ws/agent"]
    assert moved["token"] == token
    assert config.stat().st_mode & 0o077 == 0  # still readable by its owner only


def test_demo_seeding_is_audited(tmp_path: Path) -> None:
    from dispatch import demo
    from dispatch.migrate import upgrade

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
    verified = run_cli("audit", "verify", env={"SILENT_ALARM_DATA_DIR": str(tmp_path)})
    assert verified.returncode == 0, verified.stderr
