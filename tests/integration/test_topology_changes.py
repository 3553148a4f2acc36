"""A running hub routes the next alarm by the new topology, whoever changed it.

The hub keeps the routing topology in memory and reloads it when the store's
``topology_version`` moved (database triggers, migration 0006). The changes here
come from the admin REST API (inside the hub), the CLI (another process) and raw
SQL from this test process; on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # ships no type hints
import httpx
import pytest

from shared.protocol import AlarmNotify, AlarmStored
from tests.support.commands import dispatch_cli
from tests.support.hub import RunningHub, postgres_database, start_demo_hub
from tests.support.operators import ADMIN, API, api_client
from tests.support.wsclient import AgentClient, connect_agent

FIRST_CIRCLE = {"pc-1-02", "pc-e-01"}  # pc-1-01's neighbour room 1.02 and security


@dataclass
class Backend:
    hub: RunningHub
    database_url: str | None  # None: the hub's own SQLite file

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """``silent-alarm-dispatch`` on the hub's database, as an admin on the server."""
        env = {"SILENT_ALARM_DATA_DIR": str(self.hub.data_dir)}
        if self.database_url:
            env["SILENT_ALARM_DATABASE_URL"] = self.database_url
        return dispatch_cli(*args, stdin=stdin, env=env)

    async def sql(self, statement: str) -> list[tuple[Any, ...]]:
        """Plain SQL on a connection of this test process: another process to the hub."""
        if self.database_url is None:
            connection = sqlite3.connect(self.hub.data_dir / "dispatch.sqlite3", timeout=5)
            with connection:
                rows = connection.execute(statement).fetchall()
            connection.close()
            return rows
        dsn = self.database_url.replace("postgresql+asyncpg://", "postgresql://")
        postgres = await asyncpg.connect(dsn)
        try:
            return [tuple(r) for r in await postgres.fetch(statement)]
        finally:
            await postgres.close()

    async def room(self, number: str) -> int:
        ((room_id,),) = await self.sql(f"SELECT id FROM rooms WHERE number = '{number}'")  # noqa: S608
        return int(room_id)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """The demo hub on its SQLite file, or on a PostgreSQL database of its own.

    Production heartbeats (5 s): the test's sockets stay quiet while the CLI runs.
    """
    env: dict[str, str] = {}
    if request.param == "sqlite":
        hub = start_demo_hub(tmp_path / "hub", env=env)
        try:
            yield Backend(hub, None)
        finally:
            hub.stop()
        return
    with postgres_database("silent_alarm_topology") as url:
        hub = start_demo_hub(tmp_path / "hub", env={**env, "SILENT_ALARM_DATABASE_URL": url})
        try:
            yield Backend(hub, url)
        finally:
            hub.stop()


@pytest.fixture
async def raiser(backend: Backend) -> AsyncIterator[AgentClient]:
    client = await connect(backend, "pc-1-01")
    yield client
    await client.close()


async def connect(backend: Backend, workstation_id: str, token: str | None = None) -> AgentClient:
    config = backend.hub.agent_config(workstation_id) if token is None else {}
    return await connect_agent(
        backend.hub.agent_ws_url,
        workstation_id,
        token or config["token"],
        config.get("user"),
    )


async def routed_to(backend: Backend, raiser: AgentClient) -> tuple[str, set[str]]:
    """Raises a level-2 alarm; returns its id and the recipients the hub stored for it."""
    sent = await raiser.raise_alarm()
    await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)  # committed before this answer
    rows = await backend.sql(
        f"SELECT workstation_id FROM alarm_recipients WHERE alarm_id = '{sent.alarm_id}'"  # noqa: S608
    )
    return str(sent.alarm_id), {row[0] for row in rows}


async def test_a_link_set_through_the_admin_api_routes_the_next_alarm(
    backend: Backend, raiser: AgentClient
) -> None:
    added = await asyncio.to_thread(
        backend.cli, "operator", "add", ADMIN[0], "--role", "admin", "--name", "Admin",
        stdin=ADMIN[1] + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    far_room = await connect(backend, "pc-1-03")
    _, first = await routed_to(backend, raiser)
    assert first == FIRST_CIRCLE

    path = f"{API}/rooms/{await backend.room('1.01')}/neighbours/{await backend.room('1.03')}"

    def link() -> httpx.Response:
        with api_client(backend.hub, *ADMIN) as admin:
            return admin.put(path, json={"kind": "link"})

    linked = await asyncio.to_thread(link)
    assert linked.status_code == 200, linked.text

    second_id, second = await routed_to(backend, raiser)
    assert second == FIRST_CIRCLE | {"pc-1-03"}
    notify = await far_room.expect(AlarmNotify)
    assert str(notify.alarm_id) == second_id  # the first alarm never reached room 1.03
    await far_room.close()


async def test_a_pc_added_with_the_cli_gets_the_next_alarm(
    backend: Backend, raiser: AgentClient
) -> None:
    _, first = await routed_to(backend, raiser)
    assert first == FIRST_CIRCLE

    added = await asyncio.to_thread(
        backend.cli, "workstation", "add", "pc-1-02b", "--room", "1.02", "--name", "Frau Neu"
    )
    assert added.returncode == 0, added.stderr
    newcomer = await connect(backend, "pc-1-02b", token=added.stdout.strip().splitlines()[-1])

    second_id, second = await routed_to(backend, raiser)
    assert second == FIRST_CIRCLE | {"pc-1-02b"}
    notify = await newcomer.expect(AlarmNotify)
    assert str(notify.alarm_id) == second_id
    await newcomer.close()


async def test_a_raw_update_from_another_process_routes_the_next_alarm(
    backend: Backend, raiser: AgentClient
) -> None:
    _, first = await routed_to(backend, raiser)
    assert first == FIRST_CIRCLE

    await backend.sql(
        "UPDATE workstations SET room_id = (SELECT id FROM rooms WHERE number = '1.02')"
        " WHERE id = 'pc-1-05'"
    )

    _, second = await routed_to(backend, raiser)
    assert second == FIRST_CIRCLE | {"pc-1-05"}
