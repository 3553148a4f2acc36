"""Unsafe settings refuse to start, secrets are stored hashed, every setting is documented
(the command line's refusals: tests/integration/test_dispatch_cli.py)."""

from __future__ import annotations

from pathlib import Path

import argon2
import argon2.exceptions
import pytest
from pydantic import ValidationError

from dispatch.app import create_app
from dispatch.directory import credentials
from dispatch.directory.credentials import hash_password, hash_token, token_matches, verify_password
from dispatch.settings import Settings


def test_short_session_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(session_secret="short")


def test_app_refuses_to_start_without_session_secret() -> None:
    with pytest.raises(ValueError, match="SILENT_ALARM_SESSION_SECRET"):
        create_app(Settings(session_secret=None))


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


def test_unknown_usernames_cost_a_real_verification() -> None:
    """The stand-in hash for an unknown username is one a real verification runs on: the
    hasher's own parameters (the same cost as a stored hash), a well-formed hash (a
    malformed one would be refused at once), matching none of the passwords tried."""
    assert not credentials._hasher.check_needs_rehash(credentials._DUMMY_HASH)
    assert argon2.extract_parameters(credentials._DUMMY_HASH) == argon2.extract_parameters(
        hash_password("anything")
    )
    for password in ("", "anything", "correct horse battery"):
        with pytest.raises(argon2.exceptions.VerifyMismatchError):
            credentials._hasher.verify(credentials._DUMMY_HASH, password)


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
    from dispatch.store.database import Database
    from dispatch.store.migrate import upgrade

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
