"""The re-send rule for alarms the hub could not store: 0.25 s doubling to 2 s, until stored.

Time is virtual (tests/support/virtual_clock.py), so every delay below holds exactly
however loaded the machine is. The link on a real WebSocket is in
tests/agent/test_agent_link.py, the real agent against a hub whose PostgreSQL stops
in tests/agent/test_agent_store_refused.py.
"""

from __future__ import annotations

import uuid

from agent.resend import FIRST_DELAY, MAX_DELAY, Resends
from tests.support.virtual_clock import VirtualClock


class Sender:
    """Records when each alarm was sent again."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.sent: list[tuple[float, uuid.UUID]] = []

    def __call__(self, alarm_id: uuid.UUID) -> None:
        self.sent.append((self.clock.time(), alarm_id))


def test_each_refusal_doubles_the_delay_from_a_quarter_second_up_to_two_seconds() -> None:
    clock = VirtualClock()
    sender = Sender(clock)
    resends = Resends(clock, sender)
    alarm = uuid.uuid4()
    delays = []
    for _ in range(7):  # the hub refuses every time: its database stays down
        refused_at = clock.time()
        delays.append(resends.refused(alarm))
        clock.advance(10.0)
        sent_at, sent = sender.sent[-1]
        assert sent == alarm
        assert sent_at - refused_at == delays[-1]  # sent again exactly when due, once
    assert delays == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0, 2.0]
    assert (FIRST_DELAY, MAX_DELAY) == (0.25, 2.0)
    assert len(sender.sent) == 7


def test_nothing_is_sent_again_before_its_delay() -> None:
    clock = VirtualClock()
    sender = Sender(clock)
    resends = Resends(clock, sender)
    alarm = uuid.uuid4()
    resends.refused(alarm)
    clock.advance(FIRST_DELAY - 0.001)
    assert sender.sent == []
    assert resends.waiting == {alarm}
    clock.advance(0.001)
    assert [a for _, a in sender.sent] == [alarm]
    assert resends.waiting == frozenset()


def test_once_stored_it_is_not_sent_again_and_a_later_refusal_starts_afresh() -> None:
    clock = VirtualClock()
    sender = Sender(clock)
    resends = Resends(clock, sender)
    alarm = uuid.uuid4()
    for _ in range(3):
        resends.refused(alarm)
        clock.advance(MAX_DELAY)
    resends.refused(alarm)  # a fourth refusal, then the hub's database is back
    resends.stored(alarm)
    clock.advance(10 * MAX_DELAY)
    assert len(sender.sent) == 3  # the re-send scheduled before alarm_stored never went
    assert clock.pending == 0
    assert resends.refused(alarm) == FIRST_DELAY


def test_alarms_back_off_each_on_its_own() -> None:
    clock = VirtualClock()
    sender = Sender(clock)
    resends = Resends(clock, sender)
    older, newer = uuid.uuid4(), uuid.uuid4()
    for _ in range(3):
        resends.refused(older)
        clock.advance(MAX_DELAY)
    assert resends.refused(newer) == FIRST_DELAY  # not held back by the older one's refusals
    assert resends.refused(older) == 2.0


def test_a_second_refusal_before_the_re_send_leaves_one_re_send_not_two() -> None:
    clock = VirtualClock()
    sender = Sender(clock)
    resends = Resends(clock, sender)
    alarm = uuid.uuid4()
    resends.refused(alarm)
    resends.refused(alarm)  # e.g. the copy a reconnect flushed was refused as well
    clock.advance(10.0)
    assert [a for _, a in sender.sent] == [alarm]


def test_a_closed_connection_cancels_every_re_send() -> None:
    clock = VirtualClock()
    sender = Sender(clock)
    resends = Resends(clock, sender)
    alarms = [uuid.uuid4() for _ in range(3)]
    for alarm in alarms:
        resends.refused(alarm)
    resends.clear()  # the next connection sends the whole outbox anyway
    clock.advance(10.0)
    assert sender.sent == []
    assert clock.pending == 0
    assert resends.refused(alarms[0]) == FIRST_DELAY
