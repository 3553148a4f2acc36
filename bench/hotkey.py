"""Hotkey → popup on the neighbour's screen, and → the alarm's row on the guard console.

``python -m bench.hotkey --presses 30 [--console]``: the demo hub, two Xvfb displays
with trayer, the raiser's agent (pc-1-01, room 1.01) and its neighbour's (pc-1-02,
room 1.02), both the real tray agent. Each press is ``xdotool key ctrl+alt+p`` on the
raiser's display. The time runs from just before xdotool starts to the neighbour
agent's log line ``popup shown <id>``, which the agent writes once Qt has shown the
window (agent/popup.py); the log's clock is the wall clock, to the millisecond. After
each press a console connection acknowledges and resolves the alarm and the bench waits
for the neighbour's all-clear, so every press opens a popup of its own (popups of one
room are grouped).

With ``--console`` (GOALS.md: hotkey → alarm on the guard console, real browser) the
demo operator's console is open in Debian's Chromium (bench/guardconsole.py), and the
same press is also timed to the moment the alarm's row is in the console's DOM, stamped
in the page with ``performance.timeOrigin + performance.now()``. The press is the
host's ``time.time()``: the bench, the agents and Chromium run on one machine and read
one system clock, so the three times are comparable; before each press one round trip
checks the page's clock against the host's (bench/presstime.py) and the run prints the
largest difference. The resolve also waits until the row has left the active list, so
the next press opens a fresh row.

It reuses the tests' real-process helpers (tests/support), so it runs from a checkout
set up with ``scripts/bootstrap test``. A benchmark, not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bench.guardconsole import GuardConsole, guard_console
from bench.latency import Summary
from bench.presstime import ClockCheck, ms_after, tightest, worst_drift
from shared.domain import AlarmLevel
from shared.protocol import Acknowledge, IncidentReport, Resolve
from tests.support.agentproc import RunningAgent, start_agent
from tests.support.consoleclient import connect_console
from tests.support.hub import RunningHub, start_demo_hub
from tests.support.xserver import XServer, xserver

HOTKEY = "ctrl+alt+p"
LOG_TIME = "%Y-%m-%d %H:%M:%S,%f"  # agent/logs.py: logging's asctime
CLOCK_TOLERANCE_MS = 2.0
"""Beyond this (and what each reading cannot resolve) the page's clock is reported as off:
the console figures then carry that error."""


def logged_at(line: str) -> float:
    """The wall-clock time of an agent log line, in seconds since the epoch."""
    stamp = " ".join(line.split(" ", 2)[:2])
    return datetime.strptime(stamp, LOG_TIME).timestamp()  # local time, as the agent logs


@dataclass(frozen=True)
class Press:
    alarm_id: str
    pressed_s: float  # host time.time() just before xdotool started
    popup_ms: float  # the press -> the neighbour's "popup shown"


@dataclass
class Figures:
    """Every press's times, the page's clock checks and what the console page reported."""

    popup_ms: list[float] = field(default_factory=list)
    console_ms: list[float] = field(default_factory=list)
    clocks: list[ClockCheck] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"hotkey -> neighbour's popup: {Summary.of(self.popup_ms).line()}"]
        if self.console_ms:
            out.append(f"hotkey -> guard console row: {Summary.of(self.console_ms).line()}")
        best, drift = tightest(self.clocks), worst_drift(self.clocks)
        if best is not None and drift is not None:
            agrees = all(check.within(CLOCK_TOLERANCE_MS) for check in self.clocks)
            out.append(
                f"page clock vs host time.time(): {best.offset_ms:+.2f} ms "
                f"(+-{best.uncertainty_ms:.2f} ms, the shortest of {len(self.clocks)} "
                f"round trips); vs the page's Date.now(): worst {drift.drift_ms:+.2f} ms"
                + ("" if agrees else " (off: the console figures carry that error)")
            )
        out += [f"console page reported: {error}" for error in self.page_errors]
        return out


def press_and_time(raiser_x: XServer, raiser: RunningAgent, neighbour: RunningAgent) -> Press:
    """One press: the alarm id, when it was pressed, and the time to the neighbour's popup."""
    raiser_since, neighbour_since = raiser.log_size(), neighbour.log_size()
    pressed = time.time()
    raiser_x.xdotool("key", HOTKEY)
    queued = raiser.wait_for_log(r"alarm queued [0-9a-f-]{36}", since=raiser_since)
    alarm_id = queued.split("alarm queued ", 1)[1].split()[0]
    shown = neighbour.wait_for_log(f"popup shown {alarm_id}", since=neighbour_since)
    return Press(alarm_id, pressed, (logged_at(shown) - pressed) * 1000)


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


async def one_press(
    n: int,
    hub: RunningHub,
    raiser_x: XServer,
    agents: tuple[RunningAgent, RunningAgent],
    guard: GuardConsole | None,
    figures: Figures,
) -> None:
    raiser, neighbour = agents
    if guard is not None:
        figures.clocks.append(await guard.clock_check())
    # In a thread: the log waits block, and Playwright's connection lives on this loop.
    press = await asyncio.to_thread(press_and_time, raiser_x, raiser, neighbour)
    figures.popup_ms.append(press.popup_ms)
    line = f"press {n + 1}: popup {press.popup_ms:.0f} ms"
    if guard is not None:
        console_ms = ms_after(press.pressed_s, await guard.row_seen_at(press.alarm_id))
        figures.console_ms.append(console_ms)
        line += f", console {console_ms:.0f} ms"
    print(line, flush=True)
    await resolve(hub, uuid.UUID(press.alarm_id), neighbour)
    if guard is not None:
        await guard.wait_row_gone(press.alarm_id)


async def run(presses: int, spacing: float, console: bool) -> Figures:
    figures = Figures()
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
                    async with contextlib.AsyncExitStack() as stack:
                        guard = (
                            await stack.enter_async_context(guard_console(hub)) if console else None
                        )
                        for n in range(presses):
                            await one_press(n, hub, raiser_x, (raiser, neighbour), guard, figures)
                            await asyncio.sleep(spacing)
                        if guard is not None:
                            figures.page_errors = guard.errors
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
    return figures


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.hotkey", description=__doc__)
    parser.add_argument("--presses", type=int, default=30, help="alarms raised (30)")
    parser.add_argument("--spacing", type=float, default=1.0, help="seconds between (1.0)")
    parser.add_argument(
        "--console",
        action="store_true",
        help="also time the alarm's row on the guard console in Chromium",
    )
    args = parser.parse_args(argv)
    if args.presses < 1:
        parser.error("--presses must be at least 1")
    if args.spacing < 0:
        parser.error("--spacing cannot be negative")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    figures = asyncio.run(run(args.presses, args.spacing, args.console))
    for line in figures.lines():
        print(line)


if __name__ == "__main__":
    main()
