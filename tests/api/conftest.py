"""The admin API against a real hub process: operators log in through the console form."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.alarmdriver import AlarmDriver
from tests.support.hub import RunningHub, query, start_demo_hub
from tests.support.operators import ADMIN, MANAGER, add_operator, api_client


@pytest.fixture
def demo_hub_template(request: pytest.FixtureRequest, demo_template: Path) -> Path:
    """A test with the admin (``admin_hub``, ``admin``) gets its hub on ``admin_template``."""
    if "admin_hub" in request.fixturenames:
        return Path(request.getfixturevalue("admin_template"))
    return demo_template


@pytest.fixture
def admin_hub(demo_hub: RunningHub) -> RunningHub:
    """The demo hub plus an admin login (created with the CLI, as on a real server: once
    per session in ``admin_template``, which ``demo_hub_template`` starts this hub on)."""
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
def shared_hub(
    tmp_path_factory: pytest.TempPathFactory, demo_template: Path
) -> Iterator[RunningHub]:
    """One hub for a module of read-mostly checks (role and CSRF refusals change nothing)."""
    hub = start_demo_hub(
        tmp_path_factory.mktemp("hub"),
        env={"SILENT_ALARM_HEARTBEAT_INTERVAL": "1", "SILENT_ALARM_HANDSHAKE_TIMEOUT": "2"},
        template=demo_template,
    )
    add_operator(hub, *ADMIN, "admin")
    add_operator(hub, *MANAGER, "emergency_manager")
    yield hub
    hub.stop()


def audit_count(hub: RunningHub) -> int:
    (count,) = query(hub, "SELECT count(*) FROM audit_events")[0]
    assert isinstance(count, int)
    return count


def audit_details(hub: RunningHub) -> str:
    """Every audit row as text, to check that no secret ever lands there."""
    return "\n".join(repr(row) for row in query(hub, "SELECT * FROM audit_events"))


@pytest.fixture
def alarm_driver(demo_hub: RunningHub) -> Iterator[AlarmDriver]:
    driver = AlarmDriver(demo_hub)
    yield driver
    driver.close()
