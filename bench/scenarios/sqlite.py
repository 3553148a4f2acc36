"""sqlite: many raisers at once through the hub, then the single writer alone without it."""

from __future__ import annotations

import asyncio
import math
import os
import sqlite3
import time
import uuid
from typing import Any

from bench.fleet import wait_until
from bench.latency import Summary, ms
from bench.report import say
from bench.run import Run
from bench.topology import token_for
from dispatch.alarms.store import AlarmStore
from dispatch.directory.authentication import Authenticator
from dispatch.store.database import Database
from shared.domain import AlarmLevel, Trigger
from shared.protocol import RaiseAlarm, utc_now


async def sqlite_writes(run: Run) -> dict[str, Any]:
    """Many raisers at once: 300 alarms spread over 1 s, then 300 at once; then the writer alone."""
    args = run.args
    async with run.agents_up() as (fleet, out):
        raisers = run.topo.raisers

        async def burst(name: str, window: float) -> dict[str, Any]:
            """Every raiser raises one alarm, evenly over ``window`` s (0: all at once)."""
            t0 = time.monotonic()
            ids: list[str] = []
            if window:
                for i, r in enumerate(raisers):
                    await asyncio.sleep(max(0.0, t0 + i * window / len(raisers) - time.monotonic()))
                    alarm = await fleet.raise_alarm(r, AlarmLevel.THREAT)
                    if alarm is not None:
                        ids.append(alarm)
            else:
                sent = await asyncio.gather(
                    *(fleet.raise_alarm(r, AlarmLevel.THREAT) for r in raisers)
                )
                ids = [a for a in sent if a is not None]
            rec = fleet.rec
            expected = run.topo.recipients_per_alarm[raisers[0]]
            await wait_until(
                lambda: all(
                    a in rec.stored and rec.notify_count.get(a, 0) >= expected for a in ids
                ),
                20,
                0.1,
            )
            first = min(rec.sent[a] for a in ids)
            stored = [rec.stored[a] for a in ids if a in rec.stored]
            fanned = [rec.notify_last[a] for a in ids if rec.notify_count.get(a, 0) >= expected]
            acks = Summary.of([ms(rec.stored[a] - rec.sent[a]) for a in ids if a in rec.stored])
            last_stored = ms(max(stored) - first) / 1000 if stored else math.nan
            last_fanned = ms(max(fanned) - first) / 1000 if len(fanned) == len(ids) else math.nan
            result = {
                "alarms": len(ids),
                "window_s": window,
                "stored": len(stored),
                "fanned_out": len(fanned),
                "stored_ack_ms": acks.as_dict(),
                "last_stored_after_first_send_s": round(last_stored, 3),
                "all_fanned_out_after_first_send_s": round(last_fanned, 3),
                "alarms_per_s": round(len(stored) / last_stored, 1) if stored else 0,
            }
            done.update(ids)
            say(
                f"{name}: {len(stored)}/{len(ids)} stored, last ack after {last_stored:.3f} s, "
                f"all fanned out after {last_fanned:.3f} s ({result['alarms_per_s']} alarms/s "
                f"through the hub); stored-ack {acks.line()}"
            )
            return result

        done: set[str] = set()
        out["spread_1s"] = await burst("300 alarms within 1 s", 1.0)
        await asyncio.sleep(3)
        await asyncio.to_thread(run.resolve, list(done))
        await asyncio.sleep(3)
        out["all_at_once"] = await burst("300 alarms at once", 0.0)
        out["hub_closes"] = dict(fleet.rec.closes)
        out["duplicates"] = fleet.rec.duplicates
    with sqlite3.connect(run.data_dir / "dispatch.sqlite3") as db:
        stored_rows = db.execute("SELECT count(*) FROM alarms").fetchone()[0]
    db.close()
    out["durable_rows"] = stored_rows
    say(f"alarm rows in the database after the hub stopped: {stored_rows}")
    out["writer_alone"] = await writer_alone(run, args.writer_alarms)
    return out


async def writer_alone(run: Run, n: int) -> dict[str, Any]:
    """AlarmStore.store() in this process, no hub: the single writer's own commit latency."""
    # As the hub's (dispatch/app.py): WAL checkpoints off the commit path, events keyed.
    db = Database(run.url, checkpoint_in_background=True, audit_key=os.urandom(32))
    try:
        authenticator, store = Authenticator(db), AlarmStore(db)
        views = []
        for r in run.topo.raisers[:50]:
            view = await authenticator.authenticate_workstation(r, token_for(run.run_key, r))
            assert view is not None
            views.append(view)
        durations = []
        t0 = time.monotonic()
        for i in range(n):
            message = RaiseAlarm(
                alarm_id=uuid.uuid4(),
                level=AlarmLevel.THREAT,
                trigger=Trigger.HOTKEY,
                raised_at=utc_now(),
            )
            start = time.perf_counter_ns()
            await store.store(message, views[i % len(views)], None)
            durations.append(ms(time.perf_counter_ns() - start))
        elapsed = time.monotonic() - t0
    finally:
        await db.dispose()
    s = Summary.of(durations)
    say(f"AlarmStore.store() alone, sequential: {s.line()}; {n / elapsed:.0f} alarms/s")
    return {"store_ms": s.as_dict(), "alarms_per_s": round(n / elapsed, 1)}
