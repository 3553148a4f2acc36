"""idle: every agent connected, nothing raised: the hub's memory per connection and idle CPU.

The memory figure is the one every scenario prints when its agents are in (bench/run.py,
``start_hub_and_agents``); this scenario stops there, so ``--tls`` against no TLS takes a
minute or two instead of a whole fan-out run.
"""

from __future__ import annotations

from typing import Any

from bench.run import Run


async def idle(run: Run) -> dict[str, Any]:
    async with run.agents_up() as (_fleet, out):
        out["idle"] = await run.idle_cpu()
    return out
