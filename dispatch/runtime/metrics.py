"""The hub's Prometheus metrics: one registry per app, served on a port of its own when set."""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

PREFIX = "silent_alarm"

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Seconds: the alarm path's targets are milliseconds (p99 100 ms, stored-ack 1 s)."""
KNOWN_REASONS = frozenset(
    {"offline", "no_room", "self_test_failed", "hotkey_unavailable", "no_tray"}
)
"""Why a PC is unprotected (dispatch/live/protection.py, the agent's agent_health); any
other word an agent sends counts as "other": a label value per word would let one agent
make unbounded time series."""
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
"""Seconds: a SQLite group commit's target is p99 5 ms."""


class Metrics:
    """Every metric the hub records, in a registry of its own (not prometheus_client's global
    one, so two apps in one process never share or clash).

    Labels are fixed, small vocabularies (level, kind, reason): never a person, a PC or a
    room, for privacy and because each label value is a time series of its own. Recording
    is a counter or bucket update under prometheus_client's uncontended per-value lock: no
    I/O on the alarm path.
    """

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.agents_connected = Gauge(
            f"{PREFIX}_agents_connected",
            "Agent connections open on this hub instance.",
            registry=registry,
        )
        self.consoles_connected = Gauge(
            f"{PREFIX}_consoles_connected",
            "Console connections open on this hub instance.",
            registry=registry,
        )
        self.workstations_unprotected = Gauge(
            f"{PREFIX}_workstations_unprotected",
            "Workstations not protected, by reason (a PC with two reasons counts under both);"
            " updated every supervision round.",
            ["reason"],
            registry=registry,
        )
        self.alarms_stored = Counter(
            f"{PREFIX}_alarms_stored",
            "Alarms newly stored by this hub instance (retries not counted).",
            ["level", "kind"],
            registry=registry,
        )
        self.redeliveries = Counter(
            f"{PREFIX}_redeliveries",
            "Popups sent again to a connected recipient that had not confirmed its alarm.",
            registry=registry,
        )
        self.handshakes_refused = Counter(
            f"{PREFIX}_handshakes_refused",
            "Agent handshakes refused, by reason (busy: 503 from the handshake gate; else the"
            " close code's name).",
            ["reason"],
            registry=registry,
        )
        self.internal_errors = Counter(
            f"{PREFIX}_internal_errors",
            "Agent messages answered with error 'internal' (the agent retries).",
            registry=registry,
        )
        self.stored_ack_seconds = Histogram(
            f"{PREFIX}_stored_ack_seconds",
            "From a raise_alarm read to its alarm_stored queued for the raiser.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.fan_out_seconds = Histogram(
            f"{PREFIX}_fan_out_seconds",
            "From a new alarm's raise_alarm read to its last recipient's popup queued.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.db_commit_seconds = Histogram(
            f"{PREFIX}_db_commit_seconds",
            "Database write transactions: the commit itself.",
            buckets=COMMIT_BUCKETS,
            registry=registry,
        )
        self._unprotected_reasons: set[str] = set()
        self._stored_by: dict[tuple[int, str], Counter] = {}

    def alarm_stored(self, level: int, kind: str) -> None:
        """Counts a newly stored alarm. The labelled child is kept: prometheus_client's
        ``labels()`` costs four times the increment (5 µs here), on every alarm."""
        child = self._stored_by.get((level, kind))
        if child is None:
            child = self._stored_by[level, kind] = self.alarms_stored.labels(level, kind)
        child.inc()

    def set_unprotected(self, reasons_per_pc: Iterable[Iterable[str]]) -> None:
        """This round's reasons of every PC; a reason gone since the last round goes to 0."""
        counts: collections.Counter[str] = collections.Counter()
        for reasons in reasons_per_pc:
            counts.update({r if r in KNOWN_REASONS else "other" for r in reasons})
        for reason in self._unprotected_reasons - counts.keys():
            self.workstations_unprotected.labels(reason=reason).set(0)
        for reason, count in counts.items():
            self.workstations_unprotected.labels(reason=reason).set(count)
        self._unprotected_reasons |= counts.keys()


class MetricsServer:
    """prometheus_client's own HTTP server for /metrics, in its daemon thread."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        self._server, self._thread = _start(metrics, host, port)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _start(metrics: Metrics, host: str, port: int) -> tuple[WSGIServer, threading.Thread]:
    return start_http_server(port, addr=host, registry=metrics.registry)
