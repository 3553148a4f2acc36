"""Prometheus metrics on their own port, scraped from a real hub; the operator's log lines."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.domain import AlarmKind, AlarmLevel, AlarmState
from shared.protocol import (
    Acknowledge,
    AlarmNotify,
    AlarmStored,
    ConsoleAlarmChanged,
    Receipt,
    Resolve,
)
from tests.integration.conftest import Connect
from tests.support.consoleclient import connect_console
from tests.support.hub import RunningHub, free_port, query
from tests.support.waiting import Deadline
from tests.support.wsclient import wait_closed

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
OFFLINE = ("silent_alarm_workstations_unprotected", frozenset({("reason", "offline")}))


@pytest.fixture
def metrics_port() -> int:
    return free_port()


@pytest.fixture
def demo_hub_env(demo_hub_env: dict[str, str], metrics_port: int) -> dict[str, str]:
    """The test hub's settings, with the metrics served on a port of their own."""
    return {**demo_hub_env, "SILENT_ALARM_METRICS_PORT": str(metrics_port)}


async def scrape(port: int) -> tuple[Samples, set[str]]:
    """Every sample by (name, labels), and every label value seen."""
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    samples: Samples = {}
    values: set[str] = set()
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
            values |= set(sample.labels.values())
    return samples, values


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def people_and_pcs(hub: RunningHub) -> set[str]:
    """What must never be a label: every PC's id and host name, every user and operator."""
    named = {str(v) for row in query(hub, "SELECT id, hostname FROM workstations") for v in row}
    named |= {
        str(v) for row in query(hub, "SELECT username, display_name FROM operators") for v in row
    }
    named |= {str(v) for (v,) in query(hub, "SELECT display_name FROM workstations")}
    for config in (hub.data_dir / "agents").glob("*.toml"):
        named.add(hub.agent_config(config.stem)["user"])
    return {n for n in named if n}


def log_lines(hub: RunningHub, alarm_id: str) -> dict[str, dict[str, object]]:
    """The hub's JSON log lines about one alarm, by event."""
    lines = {}
    for line in hub.log().splitlines():
        if line.startswith("{") and alarm_id in line:
            entry = json.loads(line)
            lines[str(entry["event"])] = entry
    return lines


async def test_a_scrape_counts_agents_alarms_and_latencies_without_naming_anyone(
    agent: Connect, demo_hub: RunningHub, metrics_port: int
) -> None:
    raiser, neighbour, security = (
        await agent("pc-1-01"),
        await agent("pc-1-02"),
        await agent("pc-e-01"),
    )
    console = await connect_console(demo_hub)
    try:
        config = demo_hub.agent_config("pc-1-03")
        refused = await connect_agent_refused(demo_hub, "pc-1-03", config["token"] + "x")
        assert refused == 4401

        sent = await raiser.raise_alarm(AlarmLevel.THREAT)
        await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
        for recipient in (neighbour, security):
            await recipient.expect(AlarmNotify, alarm_id=sent.alarm_id)
            await recipient.send(Receipt(alarm_id=sent.alarm_id))
        await console.expect(ConsoleAlarmChanged, alarm__alarm_id=sent.alarm_id, alarm__delivered=2)

        samples, label_values = await scrape(metrics_port)
        assert value(samples, "silent_alarm_agents_connected") == 3
        assert value(samples, "silent_alarm_consoles_connected") == 1
        assert value(samples, "silent_alarm_alarms_stored_total", level="2", kind="alarm") == 1, (
            sorted(k for k in samples if "alarms_stored" in k[0])
        )
        assert (value(samples, "silent_alarm_stored_ack_seconds_count") or 0) >= 1
        assert (value(samples, "silent_alarm_fan_out_seconds_count") or 0) >= 1
        assert (value(samples, "silent_alarm_db_commit_seconds_count") or 0) >= 1
        assert value(samples, "silent_alarm_handshakes_refused_total", reason="unauthorized") == 1
        assert value(samples, "silent_alarm_internal_errors_total") == 0
        assert not label_values & people_and_pcs(demo_hub)

        # The supervision round (every half heartbeat) counts the PCs without an agent.
        pcs = query(demo_hub, "SELECT count(*) FROM workstations WHERE state != 'revoked'")[0][0]
        assert isinstance(pcs, int)
        assert pcs > 3
        deadline = Deadline(5, f"{pcs - 3} offline PCs counted")
        while (await scrape(metrics_port))[0].get(OFFLINE) != pcs - 3:
            deadline.check()
            await asyncio.sleep(0.05)

        await console.send(Acknowledge(alarm_id=sent.alarm_id))
        await console.expect(ConsoleAlarmChanged, alarm__state=AlarmState.ACKNOWLEDGED)
        await console.send(Resolve(alarm_id=sent.alarm_id))
        await console.expect(ConsoleAlarmChanged, alarm__state=AlarmState.RESOLVED)
    finally:
        await console.close()

    lines = log_lines(demo_hub, str(sent.alarm_id))
    assert lines["alarm_received"]["alarm_level"] == 2
    assert lines["alarm_received"]["kind"] == "alarm"
    stored = lines["alarm_stored"]
    assert (stored["alarm_level"], stored["kind"], stored["room"]) == (2, "alarm", "1.01")
    assert isinstance(stored["recipients"], int)
    assert stored["recipients"] >= 2
    delivered = lines["alarm_delivered"]  # the last batch of receipts: both popups shown
    assert (delivered["delivered"], delivered["recipients"]) == (2, stored["recipients"])
    assert lines["alarm_acknowledged"]["state"] == "acknowledged"
    assert lines["alarm_resolved"]["state"] == "resolved"
    for line in lines.values():
        assert line["alarm_id"] == str(sent.alarm_id)
        assert not {str(v) for v in line.values()} & people_and_pcs(demo_hub) - {"pc-1-01"}
        assert "token" not in json.dumps(line)


async def connect_agent_refused(hub: RunningHub, workstation_id: str, token: str) -> int:
    """An agent with a wrong token: the hub closes it (4401); returns the close code."""
    import websockets

    from shared.protocol import encode
    from tests.support.wsclient import agent_hello

    async with websockets.connect(hub.agent_ws_url, compression=None, open_timeout=5) as ws:
        await ws.send(encode(agent_hello(workstation_id, token)))
        code, _ = await wait_closed(ws)
    return code


def listening_ports(pid: int) -> set[int]:
    """The TCP ports a process listens on, read from /proc as ss -ltnp does."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.mark.parametrize(
    "demo_hub_env",
    [{"SILENT_ALARM_HEARTBEAT_INTERVAL": "1", "SILENT_ALARM_LOG_LEVEL": "warning"}],
)
async def test_without_the_setting_no_metrics_are_served_and_the_log_level_holds(
    agent: Connect, demo_hub: RunningHub
) -> None:
    assert listening_ports(demo_hub.process.pid) == {demo_hub.port}
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(f"{demo_hub.url}/metrics")).status_code == 404

    raiser, neighbour = await agent("pc-1-01"), await agent("pc-1-02")
    sent = await raiser.raise_alarm(AlarmLevel.THREAT, kind=AlarmKind.ALARM)
    await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
    # The neighbour's popup is sent after the alarm_stored line would have been written.
    await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id)
    assert log_lines(demo_hub, str(sent.alarm_id)) == {}
    assert '"event": "agent_connected"' not in demo_hub.log()
