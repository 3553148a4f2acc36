"""The raiser's discreet status: sent, stored, someone coming, resolved, not delivered."""

from __future__ import annotations

import uuid

import pytest

from agent.feedback import STORED_DEADLINE, Feedback, Reason, Status, View, ordered
from shared.domain import AlarmState, Answer
from shared.protocol import Responder

COMING = Responder(name="B. Beispiel", room="102", answer=Answer.COMING)
CANNOT = Responder(name="C. Muster", room="103", answer=Answer.CANNOT)


def test_starts_idle_and_not_protected() -> None:
    view = Feedback().view
    assert view == View(Status.IDLE, connected=False, reasons=frozenset({Reason.NO_HUB}))
    assert not view.protected


def test_happy_path_sent_stored_coming_resolved() -> None:
    fb = Feedback()
    fb.link_changed(True)
    alarm = uuid.uuid4()
    assert fb.raised(alarm, now=100.0).status is Status.SENT
    assert fb.stored(alarm).status is Status.STORED
    assert fb.updated(alarm, AlarmState.ACTIVE, [CANNOT]).status is Status.STORED
    view = fb.updated(alarm, AlarmState.ACKNOWLEDGED, [COMING, CANNOT, COMING])
    assert (view.status, view.coming) == (Status.COMING, 2)
    assert fb.tick(now=1000.0).status is Status.COMING  # the deadline no longer applies
    assert fb.updated(alarm, AlarmState.RESOLVED, [COMING]).status is Status.RESOLVED


def test_no_stored_ack_within_deadline_means_use_the_phone() -> None:
    fb = Feedback()
    alarm = uuid.uuid4()
    fb.raised(alarm, now=10.0)
    assert fb.tick(now=10.0 + STORED_DEADLINE - 0.01).status is Status.SENT
    assert fb.tick(now=10.0 + STORED_DEADLINE).status is Status.NOT_DELIVERED
    # The link keeps retrying; a late ack still counts.
    assert fb.stored(alarm).status is Status.STORED


def test_other_alarms_do_not_change_the_raisers_status() -> None:
    fb = Feedback()
    mine, other = uuid.uuid4(), uuid.uuid4()
    fb.raised(mine, now=0.0)
    assert fb.stored(other).status is Status.SENT
    assert fb.updated(other, AlarmState.RESOLVED, []).status is Status.SENT
    assert fb.owns(mine)
    assert not fb.owns(other)


def test_new_alarm_resets_the_count() -> None:
    fb = Feedback()
    first = uuid.uuid4()
    fb.raised(first, now=0.0)
    fb.updated(first, AlarmState.ACTIVE, [COMING])
    view = fb.raised(uuid.uuid4(), now=5.0)
    assert (view.status, view.coming) == (Status.SENT, 0)


def test_link_state_is_independent_of_alarm_status() -> None:
    fb = Feedback()
    alarm = uuid.uuid4()
    fb.link_changed(True)
    fb.raised(alarm, now=0.0)
    view = fb.link_changed(False)
    assert (view.status, view.protected) == (Status.SENT, False)


def test_a_cancelled_alarm_ends_like_a_resolved_one() -> None:
    fb = Feedback()
    alarm = uuid.uuid4()
    fb.raised(alarm, now=100.0)
    fb.stored(alarm)
    assert fb.updated(alarm, AlarmState.CANCELLED, []).status is Status.RESOLVED


def test_failed_self_test_means_not_protected_until_one_passes() -> None:
    fb = Feedback()
    assert fb.link_changed(True).protected
    view = fb.self_test_result(False)
    assert not view.connected
    assert not view.protected  # the tray shows the same warning as without a hub
    assert not fb.link_changed(True).protected  # a reconnect alone does not clear it
    assert fb.self_test_result(True).protected
    assert not fb.link_changed(False).protected  # and no hub is still no hub


def test_a_count_without_names_still_says_someone_is_coming() -> None:
    # The hub's default raiser feedback is "count": responders empty, coming set.
    fb = Feedback()
    alarm = uuid.uuid4()
    fb.raised(alarm, now=0.0)
    view = fb.updated(alarm, AlarmState.ACTIVE, [], coming=2)
    assert (view.status, view.coming) == (Status.COMING, 2)


def test_protected_means_no_reason_at_all() -> None:
    fb = Feedback()
    assert fb.link_changed(True).protected
    assert fb.reasons == frozenset()
    view = fb.reason(Reason.HOTKEY_UNAVAILABLE, True)
    assert view.connected  # the link is fine …
    assert not view.protected  # … but a press of the chord would raise nothing
    assert view.reasons == {Reason.HOTKEY_UNAVAILABLE}
    assert fb.reason(Reason.HOTKEY_UNAVAILABLE, False).protected


@pytest.mark.parametrize("reason", [Reason.HOTKEY_UNAVAILABLE, Reason.NO_TRAY, Reason.NO_ROOM])
def test_each_local_reason_alone_means_not_protected(reason: Reason) -> None:
    fb = Feedback()
    fb.link_changed(True)
    assert not fb.reason(reason, True).protected
    assert fb.reason(reason, False).protected


def test_reasons_collect_link_self_test_and_local_parts_in_a_stable_order() -> None:
    fb = Feedback()
    fb.reason(Reason.NO_ROOM, True)
    fb.reason(Reason.NO_TRAY, True)
    fb.self_test_result(False)
    assert ordered(fb.reasons) == [
        Reason.NO_HUB,
        Reason.NO_TRAY,
        Reason.NO_ROOM,
        Reason.SELF_TEST_FAILED,
    ]
    fb.link_changed(True)
    fb.self_test_result(True)
    assert ordered(fb.view.reasons) == [Reason.NO_TRAY, Reason.NO_ROOM]


def test_link_and_self_test_reasons_come_only_from_their_events() -> None:
    with pytest.raises(ValueError, match="link_changed"):
        Feedback().reason(Reason.NO_HUB, False)
