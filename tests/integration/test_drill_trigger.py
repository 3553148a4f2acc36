"""`silent-alarm-agent trigger --drill` against the real hub: only inside a scheduled drill."""

from __future__ import annotations

import os
import subprocess
import sys

from agent.config import load_config
from agent.outbox import Outbox
from tests.integration.test_alarm_kinds import schedule_drill
from tests.support.hub import RunningHub, query


def drill_trigger(hub: RunningHub) -> subprocess.CompletedProcess[str]:
    config = hub.agent_config_path("pc-1-01")
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "trigger", "--drill", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "SILENT_ALARM_AGENT_POLICY": os.devnull},
    )


def pending_in_outbox(hub: RunningHub) -> int:
    outbox = Outbox(load_config(hub.agent_config_path("pc-1-01")).data_dir)
    try:
        return len(outbox.pending())
    finally:
        outbox.close()


def test_a_drill_without_a_scheduled_drill_exits_5_and_leaves_nothing(
    demo_hub: RunningHub,
) -> None:
    result = drill_trigger(demo_hub)
    assert result.returncode == 5, result.stderr
    assert result.stderr.strip() == "Keine Übung geplant – Übungsalarm nicht gesendet"
    assert query(demo_hub, "SELECT count(*) FROM alarms") == [(0,)]
    assert pending_in_outbox(demo_hub) == 0  # refused for good: never retried


def test_a_drill_during_a_scheduled_drill_is_stored_as_a_drill(demo_hub: RunningHub) -> None:
    drill_id = schedule_drill(demo_hub, '["security"]')
    result = drill_trigger(demo_hub)
    assert result.returncode == 0, result.stderr
    assert query(demo_hub, "SELECT kind, drill_id, trigger FROM alarms") == [
        ("drill", drill_id, "cli")
    ]
