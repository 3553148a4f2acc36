"""fanout50, all300, all10k: one raiser's alarms to their recipients, the hub alone.

The comparison with Mosquitto and the naive hub is ``bench.compare``: it times all three
with the same raw client, interleaved, server and load on cores of their own.
"""

from __future__ import annotations

from typing import Any

from bench.channeltimes import delivery_times, describe, sent_count
from bench.fleet import wait_until
from bench.kernel import children, cpu_seconds
from bench.report import print_latency, say
from bench.run import Run
from bench.tally import merged


async def fanout(run: Run) -> dict[str, Any]:
    args = run.args
    async with run.agents_up() as (fleet, out):
        out["idle"] = await run.idle_cpu()
        expected = run.topo.recipients_per_alarm[run.topo.raisers[0]]
        say(f"raising {args.alarms} alarms, {args.spacing * 1000:.0f} ms apart, to {expected} each")
        senders = children(run.hub.pid) if run.sinks is not None else []
        if run.sinks is not None:  # the burst's channel messages take longer than the alarms
            run.profile("channels-hub", 30)
            for pid in senders:
                run.profile(f"channels-sender-{pid}", 30, pid)
        cpu0 = [cpu_seconds(pid) for pid in (run.hub.pid, *senders)]
        alarms = await run.raise_sequence(args.alarms, args.spacing)
        out["hub"] = (await merged(fleet.rec, run.workers)).latencies(expected, alarms)
        print_latency("hub      ", out["hub"])
        if run.sinks is not None:  # --channels: what reached the e-mail, webhook and push sinks
            sinks = run.sinks
            wanted = len(alarms) * 3 * run.args.channels
            await wait_until(lambda: sinks.received >= wanted, 60)
            # The outcomes are written in batches after the sinks answered: wait for them.
            db_file = run.data_dir / "dispatch.sqlite3"
            await wait_until(lambda: sent_count(db_file) >= sinks.received, 5)
            times = delivery_times(db_file)
            # CPU from the first alarm to the last outcome: the hub's and its sender's.
            cpu = [
                cpu_seconds(pid) - c for pid, c in zip((run.hub.pid, *senders), cpu0, strict=True)
            ]
            times["hub_cpu_s"] = round(cpu[0], 2)
            times["sender_cpu_s"] = round(sum(cpu[1:]), 2)
            out["channels"] = {
                "wanted": wanted,
                "mails": sinks.mails,
                "posts": sinks.posts,
                "pushes": sinks.pushes,
                "times": times,
            }
            say(
                f"channels: {sinks.mails} e-mails, {sinks.posts} webhooks, {sinks.pushes} "
                f"pushes of {wanted}"
            )
            say(f"channels: {describe(times)}")
            say(
                f"channels: CPU from the first alarm to the last outcome: hub "
                f"{times['hub_cpu_s']} s, sender process {times['sender_cpu_s']} s"
            )
    return out
