"""Operators of a test hub: made with the CLI as on a real server, and their API sessions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.commands import dispatch_cli
from tests.support.hub import RunningHub
from tests.support.login import login_form

API = "/api/v1"
ADMIN = ("admin", "admin-passwort-1234")
MANAGER = ("notfall", "notfall-passwort-1234")


def add_operator(hub: RunningHub, username: str, password: str, role: str) -> None:
    add_operator_in(hub.data_dir, username, password, role)


def add_operator_in(data_dir: Path, username: str, password: str, role: str) -> None:
    """``operator add`` on a hub's data dir, whether the hub runs or not."""
    result = dispatch_cli(
        "operator",
        "add",
        username,
        "--role",
        role,
        "--name",
        username.title(),
        stdin=password + "\n",
        env={"SILENT_ALARM_DATA_DIR": str(data_dir)},
    )
    assert result.returncode == 0, result.stderr


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
