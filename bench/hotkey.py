"""Hotkey → popup on the neighbour's screen with real agents on Xvfb (GOALS.md's first speed row).

``python -m bench.hotkey --presses 30``: the demo hub, two Xvfb displays with trayer, the
raiser's agent (pc-1-01, room 1.01) and its neighbour's (pc-1-02, room 1.02), both the
real tray agent. Each press is ``xdotool key ctrl+alt+p`` on the raiser's display. The
time runs from just before xdotool starts to the neighbour agent's log line ``popup
shown <id>``, which the agent writes once Qt has shown the window (agent/popup.py); the
log's clock is the wall clock, to the millisecond. After each press a console
connection acknowledges and resolves the alarm and the bench waits for the neighbour's
all-clear, so every press opens a popup of its own (popups of one room are grouped).

It reuses the tests' real-process helpers (tests/support), so it runs from a checkout
set up with ``scripts/bootstrap test``. A benchmark, not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

from bench.latency import Summary
from shared.domain import AlarmLevel
from shared.protocol import Acknowledge, IncidentReport, Resolve
from tests.support.agentproc import RunningAgent, start_agent
from tests.support.consoleclient import connect_console
from tests.support.hub import RunningHub, start_demo_hub
from tests.support.xserver import XServer, xserver

HOTKEY = "ctrl+alt+p"
LOG_TIME = "%Y-%m-%d %H:%M:%S,%f"  # agent/logs.py: logging's asctime


def logged_at(line: str) -> float:
    """The wall-clock time of an agent log line, in seconds since the epoch."""
    stamp = " ".join(line.split(" ", 2)[:2])
    return datetime.strptime(stamp, LOG_TIME).timestamp()  # local time, as the agent logs


def press_and_time(
    raiser_x: XServer, raiser: RunningAgent, neighbour: RunningAgent
) -> tuple[str, float]:
    """One press: the alarm id and the seconds from the press to the neighbour's popup."""
    raiser_since, neighbour_since = raiser.log_size(), neighbour.log_size()
    pressed = time.time()
    raiser_x.xdotool("key", HOTKEY)
    queued = raiser.wait_for_log(r"alarm queued [0-9a-f-]{36}", since=raiser_since)
    alarm_id = queued.split("alarm queued ", 1)[1].split()[0]
    shown = neighbour.wait_for_log(f"popup shown {alarm_id}", since=neighbour_since)
    return alarm_id, logged_at(shown) - pressed


async def resolve(hub: RunningHub, alarm_id: uuid.UUID, neighbour: RunningAgent) -> None:
    """The guard takes the alarm and gives the all-clear, through a console of its own,
    open until the neighbour has shown the all-clear (its popup is closed by then)."""
    since = neighbour.log_size()
    console = await connect_console(hub)
    try:
        await console.send(Acknowledge(alarm_id=alarm_id))
        report = IncidentReport(assessed_level=AlarmLevel.THREAT)
        await console.send(Resolve(alarm_id=alarm_id, report=report))
        # In a thread: the console's connection goes on meanwhile.
        await asyncio.to_thread(neighbour.wait_for_log, f"all clear shown {alarm_id}", since=since)
    finally:
        await console.close()


async def run(presses: int, spacing: float) -> list[float]:
    took: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-hotkey-") as tmp:
        hub = start_demo_hub(Path(tmp) / "hub")
        try:
            with xserver() as raiser_x, xserver() as neighbour_x:
                raiser = start_agent(hub.agent_config_path("pc-1-01"), raiser_x)
                neighbour = start_agent(hub.agent_config_path("pc-1-02"), neighbour_x)
                try:
                    for agent in (raiser, neighbour):
                        agent.wait_for_log("connected to hub", timeout=30)
                        agent.wait_for_log("hotkey listening", timeout=30)
                    for n in range(presses):
                        alarm_id, seconds = press_and_time(raiser_x, raiser, neighbour)
                        took.append(seconds * 1000)
                        print(f"press {n + 1}: {seconds * 1000:.0f} ms", flush=True)
                        await resolve(hub, uuid.UUID(alarm_id), neighbour)
                        await asyncio.sleep(spacing)
                except Exception:
                    for agent in (raiser, neighbour):  # what Qt said before an agent ended
                        errors = agent.log_path.parent / "stdout-stderr.log"
                        print(f"{errors}:\n{errors.read_text(errors='replace')[:6000]}")
                    raise
                finally:
                    for agent in (raiser, neighbour):
                        agent.stop()
        finally:
            hub.stop()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hotkey", description=__doc__)
    parser.add_argument("--presses", type=int, default=30, help="alarms raised (30)")
    parser.add_argument("--spacing", type=float, default=1.0, help="seconds between (1.0)")
    args = parser.parse_args()
    took = asyncio.run(run(args.presses, args.spacing))
    print(f"hotkey -> neighbour's popup: {Summary.of(took).line()}")


if __name__ == "__main__":
    main()
