"""The hub's metrics: a registry per app, and label values from a fixed vocabulary only."""

from __future__ import annotations

from prometheus_client import generate_latest

from dispatch.runtime.metrics import Metrics


def unprotected(metrics: Metrics) -> dict[str, float]:
    family = next(iter(metrics.workstations_unprotected.collect()))
    return {s.labels["reason"]: s.value for s in family.samples}


def test_two_apps_have_registries_of_their_own() -> None:
    first, second = Metrics(), Metrics()
    first.alarm_stored(2, "alarm")
    first.alarm_stored(2, "alarm")
    assert b'silent_alarm_alarms_stored_total{kind="alarm",level="2"} 2.0' in generate_latest(
        first.registry
    )
    assert b'level="2"' not in generate_latest(second.registry)


def test_an_unknown_reason_counts_as_other_and_a_reason_gone_goes_to_zero() -> None:
    metrics = Metrics()
    metrics.set_unprotected([["offline"], ["no_room", "Frau Albers' PC"], []])
    assert unprotected(metrics) == {"offline": 1, "no_room": 1, "other": 1}
    metrics.set_unprotected([["offline"], ["offline"]])
    assert unprotected(metrics) == {"offline": 2, "no_room": 0, "other": 0}
