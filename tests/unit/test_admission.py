"""The handshake gate: its queue, its return slots (refused agents spread at the rate a full
gate completes), and the shares per address."""

from __future__ import annotations

from collections import Counter

import pytest

from dispatch.net.admission import (
    MAX_RETRY_AFTER_S,
    MAX_SPEEDUP,
    SLOT_TURNOVER_S,
    CompletionRate,
    Handshake,
    HandshakeGate,
    Place,
)
from dispatch.net.connection_limits import Addresses


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def complete(
    gate: HandshakeGate, clock: Clock, count: int, per_second: float, level: int | None = None
) -> None:
    """``count`` handshakes complete at ``per_second``, each replaced by a new one at once:
    ``level`` in flight throughout (default: the gate full, the hub at its limit)."""
    handshakes: list[Handshake] = []

    def enter() -> None:
        handshake = gate.enter(alarm_waiting=gate.in_flight >= gate.limit)  # beyond: alarms
        assert handshake is not None
        handshakes.append(handshake)

    while gate.in_flight < (gate.limit if level is None else level):
        enter()
    for _ in range(count):
        clock.now += 1.0 / per_second
        done = handshakes.pop(0)
        gate.authenticated(done)
        gate.leave(done)
        enter()


def fill(gate: HandshakeGate) -> None:
    while gate.in_flight < gate.limit:
        assert gate.enter(alarm_waiting=False)


def refuse(gate: HandshakeGate, count: int) -> list[int]:
    waits = []
    for _ in range(count):
        assert not gate.enter(alarm_waiting=False)
        waits.append(gate.retry_after())
    return waits


def test_refused_agents_get_consecutive_seconds_at_the_measured_rate() -> None:
    clock = Clock()
    gate = HandshakeGate(limit=4, clock=clock)  # its slots alone allow 40 a second
    complete(gate, clock, 300, per_second=100.0)
    fill(gate)
    waits = refuse(gate, 300)
    assert waits == sorted(waits)
    per_second = Counter(waits)
    # 100 completions a second: about 100 agents are sent to each of the next three seconds.
    assert set(per_second) == {1, 2, 3}
    assert all(95 <= n <= 105 for n in per_second.values()), per_second


def test_a_faster_hub_sends_the_same_crowd_back_sooner() -> None:
    clock = Clock()
    gate = HandshakeGate(limit=4, clock=clock)
    complete(gate, clock, 600, per_second=200.0)
    fill(gate)
    assert refuse(gate, 300)[-1] == 2  # 300 agents at 200 a second


def test_a_hub_with_time_to_spare_sends_agents_back_sooner_than_it_completes() -> None:
    """Half the slots busy at 100 a second: a full gate would complete 200 (Little's law).
    Without this, agents that return by their slots only ever repeat the rate measured."""
    clock = Clock()
    gate = HandshakeGate(limit=4, clock=clock)
    complete(gate, clock, 300, per_second=100.0, level=2)
    fill(gate)
    per_second = Counter(refuse(gate, 300))
    assert set(per_second) == {1, 2}
    assert 190 <= per_second[1] <= 210, per_second


def test_an_almost_idle_gate_promises_at_most_twice_its_rate() -> None:
    """One handshake at a time says little about eight at once: it may be the CPU's limit."""
    clock = Clock()
    gate = HandshakeGate(limit=8, clock=clock)
    complete(gate, clock, 300, per_second=100.0, level=1)
    fill(gate)
    assert refuse(gate, int(100 * MAX_SPEEDUP))[-1] == 1
    assert refuse(gate, 1) == [2]


def test_more_in_flight_than_the_limit_does_not_lower_the_rate() -> None:
    """Agents with an alarm waiting pass a full gate; the hub is not slower for it."""
    clock = Clock()
    gate = HandshakeGate(limit=4, clock=clock)
    complete(gate, clock, 300, per_second=100.0, level=12)
    fill(gate)
    assert refuse(gate, 300)[-1] == 3  # 100 a second, as measured


def test_a_slow_or_unmeasured_rate_is_taken_as_what_the_slots_allow() -> None:
    """Slots held by slow agents make the hub look slow; nobody is sent further for it."""
    clock = Clock()
    gate = HandshakeGate(limit=1, clock=clock)
    assert gate.rate(clock()) == 1 / SLOT_TURNOVER_S == 10
    complete(gate, clock, 20, per_second=2.0)
    fill(gate)
    assert Counter(refuse(gate, 30)) == {1: 10, 2: 10, 3: 10}


def test_slots_handed_out_run_down_with_time() -> None:
    clock = Clock()
    gate = HandshakeGate(limit=1, clock=clock)
    fill(gate)
    assert refuse(gate, 60)[-1] == 6  # ten a second
    clock.now += 4.5
    assert refuse(gate, 1) == [2]  # after the slots of the sixty, which end 1.5 s from now


def test_no_agent_is_sent_further_than_the_maximum() -> None:
    gate = HandshakeGate(limit=1, clock=Clock())
    fill(gate)
    waits = refuse(gate, 30 * MAX_RETRY_AFTER_S)
    assert max(waits) == MAX_RETRY_AFTER_S


def test_an_alarm_waiting_is_let_in_and_takes_no_slot() -> None:
    gate = HandshakeGate(limit=1, clock=Clock())
    fill(gate)
    assert gate.enter(alarm_waiting=True)
    assert gate.in_flight == 2
    assert refuse(gate, 1) == [1]


def test_the_rate_measured_so_far_is_not_diluted_by_the_window() -> None:
    rate = CompletionRate(window=2.0)
    for i in range(100):  # 0.5 s at 200 a second, the window not yet full
        rate.add(10.0 + i * 0.005)
    assert rate.per_second(10.5) == pytest.approx(200, rel=0.1)
    for i in range(1000):  # then steady for 10 s
        rate.add(10.5 + i * 0.01)
    assert rate.per_second(20.5) == pytest.approx(100, rel=0.1)


def test_after_a_quiet_spell_the_rate_starts_afresh() -> None:
    rate = CompletionRate(window=2.0)
    for i in range(1000):
        rate.add(i * 0.01)
    for i in range(50):  # an hour later, 0.25 s at 200 a second
        rate.add(3600.0 + i * 0.005)
    assert rate.per_second(3600.25) == pytest.approx(200, rel=0.15)


# --- a LAN attacker: sockets that never authenticate, false alarm claims ------------------


def test_one_address_holds_at_most_its_share_of_unauthenticated_handshakes() -> None:
    gate = HandshakeGate(limit=8, per_address=2, clock=Clock())
    assert gate.enter(alarm_waiting=False, address="10.0.0.66")
    assert gate.enter(alarm_waiting=False, address="10.0.0.66")
    assert gate.enter(alarm_waiting=False, address="10.0.0.66") is None
    assert gate.enter(alarm_waiting=False, address="10.0.0.5")  # others still get in


def test_an_authenticated_handshake_no_longer_counts_against_its_address() -> None:
    """A terminal server's agents: each one past its hello frees its address's place."""
    gate = HandshakeGate(limit=8, per_address=1, clock=Clock())
    first = gate.enter(alarm_waiting=False, address="10.0.0.5")
    assert first is not None
    assert gate.enter(alarm_waiting=False, address="10.0.0.5") is None
    gate.authenticated(first)
    assert gate.enter(alarm_waiting=False, address="10.0.0.5")
    assert gate.in_flight == 2  # the first still holds its slot until its replay is done


def test_alarm_claims_take_no_slot_from_agents() -> None:
    gate = HandshakeGate(limit=1, per_address=1, clock=Clock())
    for _ in range(50):
        assert gate.enter(alarm_waiting=True, address="10.0.0.66")
    assert gate.enter(alarm_waiting=False, address="10.0.0.5")


def test_a_claim_that_never_authenticates_costs_its_address_the_priority() -> None:
    clock = Clock()
    gate = HandshakeGate(limit=1, clock=clock, claim_penalty_s=300)
    fill(gate)
    liar = gate.enter(alarm_waiting=True, address="10.0.0.66")
    assert liar is not None
    gate.leave(liar)  # no hello in time, a bad token, or gone
    assert gate.enter(alarm_waiting=True, address="10.0.0.66") is None
    assert gate.enter(alarm_waiting=True, address="10.0.0.5")  # others keep it
    clock.now += 301
    assert gate.enter(alarm_waiting=True, address="10.0.0.66")  # back after the penalty


def test_an_honest_claim_keeps_the_priority() -> None:
    gate = HandshakeGate(limit=1, clock=Clock())
    fill(gate)
    honest = gate.enter(alarm_waiting=True, address="10.0.0.5")
    assert honest is not None
    gate.authenticated(honest)
    gate.leave(honest)
    assert gate.enter(alarm_waiting=True, address="10.0.0.5")


def test_a_trusted_proxy_has_no_share_and_no_penalty() -> None:
    """Behind a reverse proxy every agent comes from its address: it limits its clients."""
    gate = HandshakeGate(limit=8, per_address=1, clock=Clock(), exempt=Addresses(["10.0.0.80"]))
    assert gate.enter(alarm_waiting=False, address="10.0.0.80")
    assert gate.enter(alarm_waiting=False, address="10.0.0.80")
    liar = gate.enter(alarm_waiting=True, address="10.0.0.80")
    assert liar is not None
    gate.leave(liar)
    assert gate.has_priority(True, "10.0.0.80")


# --- the queue: over the limit, wait for a slot instead of a 503 -------------------------


class Waiting:
    """A connection waiting in the queue; records the handshake its turn brings."""

    def __init__(self, gate: HandshakeGate, address: str = "10.0.0.5") -> None:
        self.handshake: Handshake | None = None
        answer = gate.request(alarm_waiting=False, address=address, waiter=self)
        assert isinstance(answer, Place), answer
        self.place = answer

    def admitted(self, handshake: Handshake) -> None:
        assert self.handshake is None, "admitted twice"
        self.handshake = handshake


class Unwatched:
    def admitted(self, handshake: Handshake) -> None:
        pass


def ask(gate: HandshakeGate, address: str = "10.0.0.9", *, alarm: bool = False) -> object:
    """The gate's answer to an upgrade whose turn, should it queue, nobody watches."""
    return gate.request(alarm_waiting=alarm, address=address, waiter=Unwatched())


def queueing_gate(limit: int = 1, max_queued: int = 10, per_address: int = 0) -> HandshakeGate:
    return HandshakeGate(limit=limit, per_address=per_address, max_queued=max_queued, clock=Clock())


def test_over_the_limit_an_upgrade_waits_and_slots_go_first_come_first_served() -> None:
    gate = queueing_gate(limit=2)
    held = [gate.enter(alarm_waiting=False), gate.enter(alarm_waiting=False)]
    waiting = [Waiting(gate, f"10.0.0.{n}") for n in range(1, 4)]
    assert gate.in_flight == 2
    assert [w.handshake for w in waiting] == [None, None, None]
    first = held[0]
    assert first is not None
    gate.authenticated(first)
    gate.leave(first)
    assert waiting[0].handshake is not None  # the slot went to the first in the queue
    assert waiting[1].handshake is None
    assert gate.in_flight == 2
    gate.leave(waiting[0].handshake)
    assert waiting[1].handshake is not None
    assert waiting[2].handshake is None


def test_a_free_slot_is_taken_at_once_and_nobody_passes_those_waiting() -> None:
    gate = queueing_gate(limit=1)
    assert isinstance(ask(gate), Handshake)  # a free slot: no queue
    waiting = Waiting(gate)
    assert gate.enter(alarm_waiting=False) is None  # a connection that cannot wait
    assert waiting.handshake is None


def test_beyond_the_queue_bound_an_upgrade_is_refused() -> None:
    gate = queueing_gate(limit=1, max_queued=3)
    fill(gate)
    for _ in range(3):
        Waiting(gate)
    assert ask(gate) is None


def test_one_address_holds_at_most_its_share_of_slots_and_places_together() -> None:
    """A LAN attacker cannot fill the queue: its share counts its places too."""
    gate = queueing_gate(limit=2, max_queued=10, per_address=3)
    assert gate.enter(alarm_waiting=False, address="10.0.0.66")
    assert gate.enter(alarm_waiting=False, address="10.0.0.66")
    Waiting(gate, "10.0.0.66")
    assert ask(gate, "10.0.0.66") is None
    for n in range(9):  # the rest of the queue is everybody else's
        Waiting(gate, f"10.0.1.{n}")
    assert len(gate.queue) == 10


def test_a_place_given_up_is_skipped_and_frees_its_address_share() -> None:
    gate = queueing_gate(limit=1, per_address=1)
    held = gate.enter(alarm_waiting=False, address="10.0.0.1")
    assert held is not None
    gone, next_one = Waiting(gate, "10.0.0.66"), Waiting(gate, "10.0.0.5")
    gate.withdraw(gone.place)
    gate.withdraw(gone.place)  # twice (lost after it timed out) changes nothing
    assert gate.unauthenticated["10.0.0.66"] == 0
    Waiting(gate, "10.0.0.66")  # its address may queue again
    gate.leave(held)
    assert gone.handshake is None
    assert next_one.handshake is not None


def test_an_alarm_waiting_passes_the_queue() -> None:
    gate = queueing_gate(limit=1)
    fill(gate)
    waiting = Waiting(gate)
    alarm = ask(gate, alarm=True)
    assert isinstance(alarm, Handshake)
    assert alarm.priority
    assert waiting.handshake is None
    assert gate.priority_in_flight == 1


def test_those_refused_while_a_queue_waits_are_sent_back_after_it() -> None:
    """Nothing measured: ten a second; 30 waiting go first, so a refused one returns after 3 s."""
    gate = queueing_gate(limit=1, max_queued=30)
    fill(gate)
    for n in range(30):
        Waiting(gate, f"10.0.1.{n}")
    assert ask(gate) is None
    assert gate.refuse() == 4  # after the queue's 3 s, in the next slot


def test_the_gate_is_crowded_while_every_slot_is_taken_or_upgrades_wait() -> None:
    """What the handshake reads ask before lingering to share a load (store/coalesce.py)."""
    gate = queueing_gate(limit=2)
    first = gate.enter(alarm_waiting=False)
    assert first is not None
    assert not gate.crowded()  # a first start's few dozen in flight: no linger
    alarm = gate.enter(alarm_waiting=True)
    assert alarm is not None
    assert not gate.crowded()  # an alarm takes no slot
    second = gate.enter(alarm_waiting=False)
    assert second is not None
    assert gate.crowded()
    waiting = Waiting(gate)
    gate.leave(first)  # its slot goes to the one waiting: still full
    assert waiting.handshake is not None
    assert gate.crowded()
    gate.leave(second)
    assert not gate.crowded()
