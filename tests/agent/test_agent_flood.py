"""A flood of alarms from one PC is one popup on the neighbour's real screen (issue 15).

The real hub, the real neighbour agent (pc-1-02, room 1.02) on Xvfb and, as the
flooding PC, a plain client speaking the real protocol for pc-1-01 (room 1.01):
a stuck key, a script or an attacker on the LAN. The count is read from the
popup's window title on the X display, as the task bar shows it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from shared.domain import AlarmLevel, Trigger
from shared.protocol import AlarmStored, RaiseAlarm, utc_now
from tests.support.agentproc import RunningAgent, start_agent
from tests.support.hub import RunningHub, query
from tests.support.syncclient import TestAgent
from tests.support.waiting import wait_until
from tests.support.xserver import XServer, wait_for_window

FLOOD = 50


NEIGHBOUR_ROWS = (
    "SELECT count(*) FROM alarm_recipients WHERE workstation_id = 'pc-1-02'"
    " AND alarm_id IN (SELECT id FROM alarms WHERE workstation_id = 'pc-1-01')"
)  # its own self-test has a row too


def neighbour_rows(hub: RunningHub, condition: str) -> int:
    """How many of the neighbour's alarm rows meet condition (a fixed SQL fragment)."""
    rows = query(hub, f"{NEIGHBOUR_ROWS} AND {condition}")
    return int(str(rows[0][0]))


def test_fifty_alarms_from_one_pc_are_one_popup_counting_fifty_and_one_click_answers_all(
    demo_hub: RunningHub, xservers: Callable[..., XServer], agents: list[RunningAgent]
) -> None:
    x = xservers()
    neighbour = start_agent(demo_hub.agent_config_path("pc-1-02"), x)
    agents.append(neighbour)
    neighbour.wait_for_log("connected to hub", timeout=20)
    raiser = TestAgent(demo_hub, "pc-1-01")
    try:
        started = time.monotonic()
        sent = [uuid.uuid4() for _ in range(FLOOD)]
        for alarm_id in sent:
            raiser.send(
                RaiseAlarm(
                    alarm_id=alarm_id,
                    level=AlarmLevel.THREAT,
                    trigger=Trigger.HOTKEY,
                    raised_at=utc_now(),
                )
            )
        stored = {raiser.expect(AlarmStored, timeout=20).alarm_id for _ in sent}
        assert stored == set(sent)

        # The count reaches 50 on the neighbour's screen: every alarm has reached its popup.
        window = wait_for_window(x.display, r"^Stiller Alarm – Raum 1\.01 \(50 Alarme\)$", 20)
        print(
            f"50 alarms counted on the neighbour's popup after {time.monotonic() - started:.2f} s"
        )
        # After that: exactly one alarm window on the neighbour's screen, not fifty.
        visible = x.xdotool("search", "--onlyvisible", "--name", "^Stiller Alarm", check=False)
        assert visible.stdout.split() == [str(window)]
        shown = neighbour.wait_for_log("popup text ", timeout=1)
        assert "Bedrohung" in shown

        # Every alarm is stored and confirmed on the hub, one receipt each.
        flooder = "SELECT count(*) FROM alarms WHERE workstation_id = 'pc-1-01'"
        assert query(demo_hub, flooder) == [(FLOOD,)]
        wait_until(
            lambda: neighbour_rows(demo_hub, "received_at IS NOT NULL") == FLOOD,
            10,
            what="a receipt for every alarm",
        )

        # One "Ich komme" (Alt+I) on the one popup answers each of the fifty.
        x.xdotool("windowfocus", "--sync", str(window))
        x.xdotool("key", "alt+i")
        wait_until(
            lambda: neighbour_rows(demo_hub, "answer = 'coming'") == FLOOD,
            20,
            what="'coming' stored for every alarm",
        )
    finally:
        raiser.close()
