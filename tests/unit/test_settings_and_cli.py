"""Unsafe settings refuse to start; CLI errors are one line on stderr with a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from dispatch.app import create_app
from dispatch.auth import hash_password, hash_token, token_matches, verify_password
from dispatch.settings import Settings


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
    import asyncio
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
