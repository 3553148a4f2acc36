"""/readyz's checks: the store can write, the database answers at this version's schema, the bus
listens.

A load balancer sends traffic to a hub that answers 200 and takes it away on 503.
/healthz only says the process runs; a hub whose database went away, was restored
to another schema under it, or whose PostgreSQL bus lost its connection is alive
but cannot do its job, and says why here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from dispatch.net.bus import Bus
from dispatch.store.database import Database
from dispatch.store.migrate import current_revision
from dispatch.store.store_health import StoreProblem

QUERY_TIMEOUT_S = 2.0
"""The database must answer the trivial query within this (a load balancer's check waits
a few seconds; a hung connection must not hang it)."""

STORE_REASONS = {
    StoreProblem.DISK_FULL: "cannot store: the disk is full",
    StoreProblem.IO_ERROR: "cannot store: the disk reported an I/O error",
    StoreProblem.NO_RESERVE: "disk full: storing on the disk reserve; free space",
}


@dataclass(frozen=True)
class Problem:
    problem: str  # a stable code for monitoring
    reason: str  # for the admin reading the check; no secrets, no input echoed

    def as_json(self) -> dict[str, str]:
        return {"problem": self.problem, "reason": self.reason}


async def problems(db: Database, bus: Bus, head: str) -> list[Problem]:
    """Every reason the hub is not ready, the store's write state first; empty: ready."""
    found = []
    store = db.health.state.problem
    if store is not None:
        found.append(Problem(store.value, STORE_REASONS[store]))
    try:
        schema = await asyncio.wait_for(current_revision(db.engine), QUERY_TIMEOUT_S)
    except TimeoutError:
        found.append(
            Problem("database", f"the database did not answer within {QUERY_TIMEOUT_S:g} s")
        )
    except Exception as error:  # any driver's: the database is what is not ready
        found.append(
            Problem("database", f"the database cannot be queried ({type(error).__name__})")
        )
    else:
        if schema != head:
            found.append(
                Problem(
                    "schema", f"the database is at schema {schema or 'none'}, this hub needs {head}"
                )
            )
    if not bus.connected:
        found.append(
            Problem("bus", "the PostgreSQL bus to the other hub instances is not connected")
        )
    return found
