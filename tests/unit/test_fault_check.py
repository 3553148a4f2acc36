"""The fault campaign's history check (bench/faults/check.py) counts what it claims to count."""

from __future__ import annotations

from collections import Counter

from bench.faults.agents import History
from bench.faults.check import check, delivered_everywhere
from bench.faults.kinds import Window
from bench.faults.topology import GUARDS, Plan

S = 1_000_000_000  # one second in nanoseconds
PLAN = Plan(["desk-a", "desk-b", "desk-c"])
FAULT = Window(10 * S, 12 * S)


def _histories() -> dict[str, History]:
    """desk-a pressed alarm "x" at 11 s (during the fault); all recipients had it at 13 s."""
    histories = {ws_id: History() for ws_id in PLAN.everyone}
    histories["desk-a"].raised["x"] = 11 * S
    histories["desk-a"].acked["x"] = 12 * S
    for recipient in ("desk-b", "desk-c", *GUARDS):
        histories[recipient].shown["x"] = 13 * S
        histories[recipient].notifies["x"] = 1
    return histories


def test_an_alarm_stored_once_and_shown_everywhere_is_neither_lost_nor_duplicated() -> None:
    histories = _histories()
    verdict = check("kill", 1, PLAN, histories, Counter({"x": 1}), FAULT)
    assert (verdict.raised, verdict.acknowledged, verdict.lost) == (1, 1, 0)
    assert (verdict.stored_twice, verdict.shown_twice, verdict.failed) == (0, 0, False)
    assert verdict.recovery_s == [1.0]  # 13 s, one second after the fault's end
    assert delivered_everywhere(PLAN, histories)


def test_an_alarm_missing_from_the_store_is_lost() -> None:
    verdict = check("kill", 1, PLAN, _histories(), Counter(), FAULT)
    assert verdict.lost == 1
    assert verdict.failed


def test_an_alarm_one_recipient_never_showed_is_lost() -> None:
    histories = _histories()
    del histories[GUARDS[1]].shown["x"]
    verdict = check("kill", 1, PLAN, histories, Counter({"x": 1}), FAULT)
    assert verdict.lost == 1
    assert verdict.recovery_s == []
    assert not delivered_everywhere(PLAN, histories)


def test_an_alarm_never_acknowledged_to_its_raiser_is_lost() -> None:
    histories = _histories()
    del histories["desk-a"].acked["x"]
    assert check("kill", 1, PLAN, histories, Counter({"x": 1}), FAULT).lost == 1
    assert not delivered_everywhere(PLAN, histories)


def test_two_rows_for_one_alarm_are_stored_twice() -> None:
    verdict = check("kill", 1, PLAN, _histories(), Counter({"x": 2}), FAULT)
    assert verdict.stored_twice == 1
    assert verdict.failed


def test_a_resent_notify_is_counted_apart_from_a_second_popup() -> None:
    histories = _histories()
    histories["desk-b"].notifies["x"] = 3  # replayed twice after reconnects: receipts only
    verdict = check("kill", 1, PLAN, histories, Counter({"x": 1}), FAULT)
    assert (verdict.resent_notifies, verdict.shown_twice, verdict.failed) == (2, 0, False)
    histories["desk-b"].shown_twice["x"] = 1
    verdict = check("kill", 1, PLAN, histories, Counter({"x": 1}), FAULT)
    assert verdict.shown_twice == 1
    assert verdict.failed


def test_an_alarm_delivered_before_the_fault_does_not_count_for_recovery() -> None:
    histories = _histories()
    histories["desk-a"].raised["x"] = 5 * S
    for recipient in ("desk-b", "desk-c", *GUARDS):
        histories[recipient].shown["x"] = 6 * S
    verdict = check("kill", 1, PLAN, histories, Counter({"x": 1}), FAULT)
    assert verdict.recovery_s == []
    assert verdict.lost == 0


def test_the_ring_gives_each_desk_its_two_neighbours_and_the_guards() -> None:
    assert PLAN.recipients("desk-a") == frozenset({"desk-c", "desk-b", *GUARDS})
