"""One round: a fresh stage, every agent connected, a burst with the fault in it, the check."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from bench.faults.agents import Fleet
from bench.faults.check import Verdict, check, delivered_everywhere
from bench.faults.kinds import Fault
from bench.faults.stage import Stage, open_stage
from bench.fleet import wait_until


@dataclass(frozen=True)
class Settings:
    desks: int
    alarms: int
    burst_seconds: float
    stop_seconds: float
    down_seconds: float
    drain_seconds: float
    heartbeat: float


async def _burst(fleet: Fleet, desks: list[str], times: list[float], rng: random.Random) -> None:
    """Each alarm from a desk chosen at random, at its moment of the burst."""
    start = time.monotonic()
    for at in times:
        await asyncio.sleep(max(0.0, start + at - time.monotonic()))
        await fleet.agents[rng.choice(desks)].press()


async def run_round(fault: Fault, round_no: int, s: Settings, rng: random.Random) -> Verdict:
    async with open_stage(fault.database, s.desks, s.heartbeat) as stage:
        return await _in_stage(stage, fault, round_no, s, rng)


async def _in_stage(
    stage: Stage, fault: Fault, round_no: int, s: Settings, rng: random.Random
) -> Verdict:
    plan = stage.plan
    fleet = Fleet(stage.hub.ws_url, stage.tokens(), s.heartbeat)
    fleet.start()
    try:
        everyone = len(plan.everyone)
        if not await wait_until(lambda: fleet.connected >= everyone, 60):
            raise RuntimeError(f"only {fleet.connected} of {everyone} agents connected")
        times = sorted(rng.uniform(0, s.burst_seconds) for _ in range(s.alarms))
        fault_at = rng.uniform(0.25, 0.5) * s.burst_seconds
        lasting = s.stop_seconds if fault.name == "stop" else s.down_seconds
        burst = asyncio.create_task(_burst(fleet, plan.desks, times, rng))
        await asyncio.sleep(fault_at)
        window = await fault.inject(stage, lasting)
        await burst
        histories = {ws_id: agent.history for ws_id, agent in fleet.agents.items()}
        # Bounded: what is still missing at the end counts as lost.
        await wait_until(lambda: delivered_everywhere(plan, histories), s.drain_seconds)
        rows = await stage.stored_rows()
    finally:
        await fleet.stop()
    return check(fault.name, round_no, plan, histories, rows, window)
