"""The admin API against a real hub process: operators log in through the console form."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.hub import RunningHub, start_demo_hub

API = "/api/v1"
ADMIN = ("admin", "admin-passwort-1234")
MANAGER = ("notfall", "notfall-passwort-1234")
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def dispatch_cli(hub: RunningHub, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``silent-alarm-dispatch`` against the hub's own database (as an admin on the server)."""
    env = {**os.environ, "SILENT_ALARM_DATA_DIR": str(hub.data_dir)}
    env.pop("SILENT_ALARM_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "dispatch", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def add_operator(hub: RunningHub, username: str, password: str, role: str) -> None:
    result = dispatch_cli(
        hub,
        "operator",
        "add",
        username,
        "--role",
        role,
        "--name",
        username.title(),
        stdin=password + "\n",
    )
    assert result.returncode == 0, result.stderr


def login_form(client: httpx.Client, username: str, password: str) -> httpx.Response:
    page = client.get("/login")
    match = CSRF_FIELD.search(page.text)
    assert match, "no CSRF field on the login page"
    return client.post(
        "/login", data={"username": username, "password": password, "csrf": match.group(1)}
    )


@contextmanager
def api_client(hub: RunningHub, username: str, password: str) -> Iterator[httpx.Client]:
    """An httpx client with an operator session and the X-CSRF-Token header set."""
    with httpx.Client(base_url=hub.url, follow_redirects=False, timeout=15) as client:
        response = login_form(client, username, password)
        assert response.status_code == 303, response.text
        session = client.get(f"{API}/session")
        assert session.status_code == 200, session.text
        client.headers["X-CSRF-Token"] = session.json()["csrf_token"]
        yield client


@pytest.fixture
def admin_hub(demo_hub: RunningHub) -> RunningHub:
    """The demo hub plus an admin login (created with the CLI, as on a real server)."""
    add_operator(demo_hub, *ADMIN, "admin")
    return demo_hub


@pytest.fixture
def admin(admin_hub: RunningHub) -> Iterator[httpx.Client]:
    with api_client(admin_hub, *ADMIN) as client:
        yield client


@pytest.fixture
def guard(demo_hub: RunningHub) -> Iterator[httpx.Client]:
    with api_client(demo_hub, demo_hub.login.username, demo_hub.login.password) as client:
        yield client


@pytest.fixture(scope="module")
def shared_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """One hub for a module of read-mostly checks (role and CSRF refusals change nothing)."""
    hub = start_demo_hub(
        tmp_path_factory.mktemp("hub"),
        env={"SILENT_ALARM_HEARTBEAT_INTERVAL": "1", "SILENT_ALARM_HANDSHAKE_TIMEOUT": "2"},
    )
    add_operator(hub, *ADMIN, "admin")
    add_operator(hub, *MANAGER, "emergency_manager")
    yield hub
    hub.stop()


def query(hub: RunningHub, sql: str, *params: object) -> list[tuple[object, ...]]:
    """Reads the hub's SQLite file directly (WAL allows a reader beside the running hub)."""
    path: Path = hub.data_dir / "dispatch.sqlite3"
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return list(connection.execute(sql, params))
    finally:
        connection.close()


def audit_count(hub: RunningHub) -> int:
    return int(query(hub, "SELECT count(*) FROM audit_events")[0][0])  # type: ignore[call-overload]


def audit_details(hub: RunningHub) -> str:
    """Every audit row as text, to check that no secret ever lands there."""
    return "\n".join(repr(row) for row in query(hub, "SELECT * FROM audit_events"))
