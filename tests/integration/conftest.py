"""Helpers for driving the real hub over real WebSockets."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from shared.domain import AlarmLevel, AlarmState
from shared.protocol import (
    Acknowledge,
    AlarmNotify,
    AlarmStored,
    AlarmUpdate,
    IncidentReport,
    Resolve,
)
from tests.support.consoleclient import connect_console
from tests.support.hub import RunningHub, query
from tests.support.wsclient import AgentClient, connect_agent

Connect = Callable[[str], Awaitable[AgentClient]]


@asynccontextmanager
async def agents_of(hub: RunningHub) -> AsyncIterator[Connect]:
    """Connects a demo workstation of ``hub`` by id, with its real token; closes all after."""
    clients: list[AgentClient] = []

    async def connect(workstation_id: str) -> AgentClient:
        config = hub.agent_config(workstation_id)
        client = await connect_agent(
            hub.agent_ws_url, workstation_id, config["token"], config["user"]
        )
        clients.append(client)
        return client

    try:
        yield connect
    finally:
        for client in clients:
            await client.close()


@pytest.fixture
async def agent(demo_hub: RunningHub) -> AsyncIterator[Connect]:
    """Connects a demo workstation by id, with its real token; closes all at the end."""
    async with agents_of(demo_hub) as connect:
        yield connect


async def eventually(
    hub: RunningHub, sql: str, *params: object, expect: object, timeout: float = 3.0
) -> None:
    """Polls the store until the query returns ``expect`` (receipts are batch-written)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (rows := query(hub, sql, *params)) != expect:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"after {timeout} s the store still says {rows}, not {expect}")
        await asyncio.sleep(0.02)


def set_policy(hub_dir: Path, level: int, scopes: list[str], escalation: list[dict[str, object]],
               cancel_window_s: int = 30, raiser_feedback: str = "count",
               countdown_s: int = 0) -> None:  # fmt: skip
    """What an admin saves for the demo site; the hub reads it for every new alarm."""
    with sqlite3.connect(hub_dir / "dispatch.sqlite3") as db:
        db.execute(
            "INSERT INTO alarm_policies (site_id, level, scopes, raiser_feedback, escalation,"
            " cancel_window_s, countdown_s) VALUES (1, ?, ?, ?, ?, ?, ?)",
            (level, json.dumps(scopes), raiser_feedback, json.dumps(escalation), cancel_window_s,
             countdown_s),
        )  # fmt: skip


async def resolved_and_open_alarms(hub: RunningHub) -> tuple[uuid.UUID, uuid.UUID]:
    """One alarm resolved with its report through the console, one left open."""
    async with agents_of(hub) as agent:
        raiser, neighbour = await agent("pc-1-01"), await agent("pc-1-02")
        console = await connect_console(hub)
        try:
            resolved = await raiser.raise_alarm()
            await raiser.expect(AlarmStored, alarm_id=resolved.alarm_id)
            await neighbour.expect(AlarmNotify, alarm_id=resolved.alarm_id)
            await console.send(Acknowledge(alarm_id=resolved.alarm_id))
            report = IncidentReport(assessed_level=AlarmLevel.THREAT)
            await console.send(Resolve(alarm_id=resolved.alarm_id, report=report))
            await raiser.expect(AlarmUpdate, alarm_id=resolved.alarm_id, state=AlarmState.RESOLVED)
            still_open = await raiser.raise_alarm()
            await raiser.expect(AlarmStored, alarm_id=still_open.alarm_id)
        finally:
            await console.close()
    return resolved.alarm_id, still_open.alarm_id
