"""fanout50, all300, all10k: one raiser's alarms to their recipients, then Mosquitto the same."""

from __future__ import annotations

from typing import Any

from bench.mosquitto import mosquitto_phase
from bench.report import print_latency, say
from bench.run import Run
from bench.tally import merged


async def fanout(run: Run) -> dict[str, Any]:
    args = run.args
    async with run.agents_up() as (fleet, out):
        out["idle"] = await run.idle_cpu()
        expected = run.topo.recipients_per_alarm[run.topo.raisers[0]]
        say(f"raising {args.alarms} alarms, {args.spacing * 1000:.0f} ms apart, to {expected} each")
        alarms = await run.raise_sequence(args.alarms, args.spacing)
        out["hub"] = (await merged(fleet.rec, run.workers)).latencies(expected, alarms)
        print_latency("hub      ", out["hub"])
    if not args.no_mosquitto:
        say("Mosquitto, same shape (QoS 1)")
        out["mosquitto"] = await mosquitto_phase(args, run.topo, args.alarms, args.spacing)
        if "error" not in out["mosquitto"]:
            print_latency("mosquitto", out["mosquitto"])
            hub99 = out["hub"]["last_recipient_ms"]["p99"]
            mq99 = out["mosquitto"]["last_recipient_ms"]["p99"]
            out["ratio_p99"] = round(hub99 / mq99, 2)
            hub50 = out["hub"]["last_recipient_ms"]["p50"]
            mq50 = out["mosquitto"]["last_recipient_ms"]["p50"]
            out["ratio_p50"] = round(hub50 / mq50, 2)
            ratios = f"p50 {hub50 / mq50:.2f}x  p99 {hub99 / mq99:.2f}x"
            say(f"ratio hub/Mosquitto, last recipient: {ratios}")
    return out
