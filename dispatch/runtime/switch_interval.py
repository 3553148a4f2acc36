"""How soon a database thread gets the interpreter back from a busy event loop.

Every database statement is a trip to the driver's thread (aiosqlite's) and
back. When the thread is done it needs the GIL to hand the result over, and
while the event loop runs Python without a pause (a restart storm's
handshakes) it gets it only when CPython makes the loop let go: after the
switch interval, 5 ms by default. An alarm's store is about 15 trips, so under
load the interval, not the database, set how long the commit took. At 1 ms,
alarms raised during a 10,000-agent restart storm were stored in half the time
(p50 99/77 ms → 43/45 ms, p99 390/347 ms → 244/281 ms), and the agents were back
sooner (docs/performance.md). Idle, nothing changes: no thread waits for the GIL.
"""

from __future__ import annotations

import sys

SWITCH_INTERVAL_S = 0.001


def configure() -> None:
    sys.setswitchinterval(SWITCH_INTERVAL_S)
