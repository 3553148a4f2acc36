"""storm: SIGKILL the hub with every agent connected, restart it, time the way back."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from bench.kernel import cpu_seconds
from bench.latency import ms
from bench.report import print_latency, say
from bench.run import Run
from bench.tally import merged, total_connected


async def storm(run: Run) -> dict[str, Any]:
    """SIGKILL the hub with every agent connected, restart it, time the way back."""
    args = run.args
    async with run.agents_up() as (fleet, out):
        total = run.topo.total
        generators = [os.getpid(), *(w.pid for w in run.workers)]
        generators_before = sum(cpu_seconds(pid) for pid in generators)
        killed = time.monotonic_ns()
        run.hub.kill()
        say(f"hub killed with {total} agents connected; restarting")
        run.hub.start()
        ready = await run.hub.wait_ready()
        ready_ns = int(ready * 1e9)
        say(f"hub ready again {ms(ready_ns - killed) / 1000:.2f} s after the kill")
        run.profile("storm", 30)
        alarms: list[str] = []
        curve: list[tuple[float, int]] = []
        all_back_ns = 0
        deadline = time.monotonic() + args.storm_timeout
        next_alarm = time.monotonic()
        while time.monotonic() < deadline:
            if time.monotonic() >= next_alarm:
                next_alarm += args.storm_alarm_every
                alarm = await fleet.raise_alarm(run.topo.raisers[0], run.topo.level)
                if alarm is not None:
                    alarms.append(alarm)
            connected, last = await total_connected(fleet.rec, run.workers)
            curve.append((round(ms(time.monotonic_ns() - killed) / 1000, 2), connected))
            if connected >= total and not all_back_ns:
                all_back_ns = last
                break
            await asyncio.sleep(0.2)
        # Who had the CPU until all were back: the restarted hub or the simulated agents.
        cpu = {
            "hub_cpu_s": round(cpu_seconds(run.hub.pid), 1),
            "loadgen_cpu_s": round(sum(cpu_seconds(p) for p in generators) - generators_before, 1),
        }
        await run.drain(alarms, within=5)
        m = await merged(fleet.rec, run.workers)
        out["storm"] = {
            "hub_ready_after_kill_s": round(ms(ready_ns - killed) / 1000, 2),
            "all_back_after_kill_s": round(ms(all_back_ns - killed) / 1000, 2)
            if all_back_ns
            else None,
            "all_back_after_ready_s": round(ms(all_back_ns - ready_ns) / 1000, 2)
            if all_back_ns
            else None,
            "connected_at_end": curve[-1][1] if curve else 0,
            **cpu,
            "curve": curve[:: max(1, len(curve) // 40)],
            "alarms_during_storm": m.latencies(run.topo.recipients_per_alarm["raiser"], alarms),
        }
        say(
            f"all {total} back {out['storm']['all_back_after_kill_s']} s after the kill "
            f"({out['storm']['all_back_after_ready_s']} s after the hub was ready); "
            f"connect errors {m.errors}"
        )
        say(
            f"CPU from the kill to all back: restarted hub {cpu['hub_cpu_s']} s, "
            f"load generators {cpu['loadgen_cpu_s']} s"
            + (" (hub pinned to CPU 0, generators on the rest)" if args.pin else "")
        )
        print_latency("storm    ", out["storm"]["alarms_during_storm"])
    return out
