"""fanout50, all300, all10k: one raiser's alarms to their recipients, the hub alone.

The comparison with Mosquitto and the naive hub is ``bench.compare``: it times all three
with the same raw client, interleaved, server and load on cores of their own.
"""

from __future__ import annotations

from typing import Any

from bench.fleet import wait_until
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
        if run.sinks is not None:  # --channels: what reached the e-mail, webhook and push sinks
            sinks = run.sinks
            wanted = len(alarms) * 3 * run.args.channels
            await wait_until(lambda: sinks.received >= wanted, 60)
            out["channels"] = {
                "wanted": wanted,
                "mails": sinks.mails,
                "posts": sinks.posts,
                "pushes": sinks.pushes,
            }
            say(
                f"channels: {sinks.mails} e-mails, {sinks.posts} webhooks, {sinks.pushes} "
                f"pushes of {wanted}"
            )
    return out
