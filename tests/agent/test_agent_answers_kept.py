"""An agent restarted while a colleague's alarm is open does not ask its person again.

The hub sends every open alarm again when an agent connects. Before, a restarted
agent (a crash, a new login) showed and rang every still-open alarm again,
including those its person had already answered (issue 16).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from shared.domain import AlarmLevel, Trigger
from shared.protocol import AlarmStored, RaiseAlarm, utc_now
from tests.support.agentproc import RunningAgent, start_agent
from tests.support.hub import RunningHub, query
from tests.support.syncclient import TestAgent
from tests.support.waiting import wait_until
from tests.support.xserver import XServer, wait_for_window


def answers(hub: RunningHub, alarm_id: uuid.UUID) -> list[tuple[object, ...]]:
    return query(
        hub,
        "SELECT answer FROM alarm_recipients WHERE alarm_id = ? AND workstation_id = 'pc-1-02'",
        str(alarm_id),
    )


def test_an_alarm_answered_before_the_agent_restarted_is_not_asked_again(
    demo_hub: RunningHub, xservers: Callable[..., XServer], agents: list[RunningAgent]
) -> None:
    x = xservers()
    config = demo_hub.agent_config_path("pc-1-02")  # the neighbour of room 1.01
    neighbour = start_agent(config, x)
    agents.append(neighbour)
    neighbour.wait_for_log("connected to hub", timeout=20)
    raiser = TestAgent(demo_hub, "pc-1-01")
    try:
        alarm_id = uuid.uuid4()
        raiser.send(
            RaiseAlarm(
                alarm_id=alarm_id,
                level=AlarmLevel.THREAT,
                trigger=Trigger.HOTKEY,
                raised_at=utc_now(),
            )
        )
        assert raiser.expect(AlarmStored, timeout=20).alarm_id == alarm_id
        window = wait_for_window(x.display, r"^Stiller Alarm – Raum 1\.01$", 20)
        x.xdotool("windowfocus", "--sync", str(window))
        x.xdotool("key", "alt+k")  # "Kann nicht"
        wait_until(lambda: answers(demo_hub, alarm_id) == [("cannot",)], 10, what="the answer")
        neighbour.kill()  # a crash: nothing is written on the way out

        since = neighbour.log_size()  # the restarted agent writes on in the same log
        neighbour = start_agent(config, x)
        agents.append(neighbour)
        # The hub sends the open alarm again on connect; the agent confirms it either way
        # (a popup it shows, once on screen), so after the receipt the screen is settled.
        neighbour.wait_for_log(f"receipt sent {alarm_id}", timeout=30, since=since)
        visible = x.xdotool("search", "--onlyvisible", "--name", "^Stiller Alarm", check=False)
        assert visible.stdout.split() == []  # not shown again
        log = neighbour.log()[since:]
        assert f"popup text {alarm_id}" not in log
        assert "popup answered" not in log  # not answered twice
        assert f"popup recalled {alarm_id} done" in log
        assert answers(demo_hub, alarm_id) == [("cannot",)]
    finally:
        raiser.close()
