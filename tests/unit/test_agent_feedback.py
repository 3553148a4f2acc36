"""The raiser's discreet status: sent, stored, delivered, coming, security, arrived, resolved,
not delivered and nobody reached, for each of the raiser's open alarms."""

from __future__ import annotations

import uuid

import pytest

from agent.feedback import STORED_DEADLINE, Feedback, Reason, Status, View, ordered
from agent.feedback_text import notice_line
from shared.domain import AlarmKind, AlarmState, Answer
from shared.protocol import RaiserStatus, Responder

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
    view = fb.updated(alarm, AlarmState.ACTIVE, [COMING, CANNOT, COMING])
    assert (view.status, view.coming) == (Status.COMING, 2)
    assert fb.tick(now=1000.0).status is Status.COMING  # the deadline no longer applies
    view = fb.updated(alarm, AlarmState.ACKNOWLEDGED, [COMING, CANNOT, COMING])
    assert (view.status, view.coming) == (Status.ACKNOWLEDGED, 2)  # security outranks
    assert fb.updated(alarm, AlarmState.RESOLVED, [COMING]).status is Status.RESOLVED


def test_no_stored_ack_within_deadline_means_use_the_phone() -> None:
    fb = Feedback()
    alarm = uuid.uuid4()
    fb.raised(alarm, now=10.0)
    assert fb.tick(now=10.0 + STORED_DEADLINE - 0.01).status is Status.SENT
    assert fb.tick(now=10.0 + STORED_DEADLINE).status is Status.NOT_DELIVERED
    # The link keeps retrying; a late ack still counts.
    assert fb.stored(alarm).status is Status.STORED


def test_the_next_deadline_is_the_oldest_alarm_still_waiting_for_stored() -> None:
    """When the tick must run again: a tick that came early (a timer firing before the
    deadline) changes nothing and must be followed by another."""
    fb = Feedback()
    assert fb.next_deadline(now=0.0) is None
    first, second = uuid.uuid4(), uuid.uuid4()
    fb.raised(first, now=10.0)
    fb.raised(second, now=11.0)
    early = 10.0 + STORED_DEADLINE - 0.15
    assert fb.tick(now=early).status is Status.SENT
    assert fb.next_deadline(now=early) == pytest.approx(0.15)
    fb.tick(now=10.0 + STORED_DEADLINE)  # the first is late now, the second not yet
    assert fb.next_deadline(now=10.0 + STORED_DEADLINE) == pytest.approx(1.0)
    fb.stored(second)
    assert fb.next_deadline(now=10.0 + STORED_DEADLINE) is None  # none waiting any more


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


# --- issue 13: every confirmation, each open alarm, "nobody reached" -----------------


def _update(
    alarm: uuid.UUID, state: AlarmState = AlarmState.ACTIVE, **fields: object
) -> RaiserStatus:
    return RaiserStatus(alarm_id=alarm, state=state, **fields)


def _apply(fb: Feedback, update: RaiserStatus) -> Status:
    fb.status(update)
    (alarm,) = [a for a in fb.alarms if a.alarm_id == update.alarm_id]
    return alarm.status


def test_each_confirmation_in_turn_with_its_words() -> None:
    fb = Feedback()
    alarm = uuid.uuid4()
    fb.raised(alarm, now=0.0)
    fb.stored(alarm)
    steps = [
        (_update(alarm, recipients=3), Status.STORED, "angekommen, noch keine Bestätigung"),
        (_update(alarm, delivered=1, recipients=3), Status.DELIVERED, "zugestellt"),
        (_update(alarm, delivered=3, coming=1), Status.COMING, "1 kommt"),
        (_update(alarm, delivered=3, coming=2), Status.COMING, "2 kommen"),
        (
            _update(alarm, AlarmState.ACKNOWLEDGED, coming=2, acknowledged_by_security=True),
            Status.ACKNOWLEDGED,
            "Sicherheitsdienst hat übernommen · 2 kommen",
        ),
        (
            _update(alarm, AlarmState.ARRIVED, acknowledged_by_security=True),
            Status.ARRIVED,
            "Hilfe ist da",
        ),
        (_update(alarm, AlarmState.RESOLVED), Status.RESOLVED, "beendet"),
    ]
    for update, status, words in steps:
        assert _apply(fb, update) is status
        (shown,) = fb.alarms
        assert notice_line(shown, "de").endswith(": " + words)


def test_a_console_showing_it_counts_as_delivered() -> None:
    fb = Feedback()
    alarm = uuid.uuid4()
    fb.raised(alarm, now=0.0)
    assert _apply(fb, _update(alarm, seen_by_console=True)) is Status.DELIVERED


def test_names_are_shown_with_the_names_policy() -> None:
    fb = Feedback()
    alarm = uuid.uuid4()
    fb.raised(alarm, now=0.0)
    update = RaiserStatus(alarm_id=alarm, state=AlarmState.ACTIVE, responders=[COMING], coming=1)
    assert _apply(fb, update) is Status.COMING
    assert notice_line(fb.alarms[0], "de").endswith("Kommt: B. Beispiel")


def test_level_three_acknowledged_is_reassurance_without_anyone_coming() -> None:
    fb = Feedback()
    alarm = uuid.uuid4()
    fb.raised(alarm, now=0.0)
    status = _apply(fb, _update(alarm, AlarmState.ACKNOWLEDGED, acknowledged_by_security=True))
    assert status is Status.ACKNOWLEDGED
    assert notice_line(fb.alarms[0], "de").endswith(": Sicherheitsdienst hat übernommen")
    # Acknowledged after arrival keeps "arrived": the hub keeps that state.
    assert _apply(fb, _update(alarm, AlarmState.ARRIVED, acknowledged_by_security=True)) is (
        Status.ARRIVED
    )


def test_nobody_reached_stays_until_someone_confirms() -> None:
    fb = Feedback()
    alarm = uuid.uuid4()
    fb.raised(alarm, now=0.0)
    fb.stored(alarm)
    assert _apply(fb, _update(alarm, nobody_reached=True)) is Status.NOBODY_REACHED
    assert notice_line(fb.alarms[0], "de").endswith(
        "Niemand erreicht – bitte telefonisch Hilfe holen (110)"
    )
    # A popup reaching someone later (escalation) is no confirmation of help.
    assert _apply(fb, _update(alarm, nobody_reached=True, delivered=1)) is Status.NOBODY_REACHED
    assert fb.view.status is Status.NOBODY_REACHED  # the tray says it too
    assert _apply(fb, _update(alarm, nobody_reached=True, coming=1)) is Status.COMING


def test_never_help_is_coming_without_a_confirmation() -> None:
    fb = Feedback()
    alarm = uuid.uuid4()
    fb.raised(alarm, now=0.0)
    for update in (
        _update(alarm),
        _update(alarm, delivered=5, recipients=5),
        _update(alarm, seen_by_console=True),
        _update(alarm, nobody_reached=True),
    ):
        _apply(fb, update)
        assert not fb.alarms[0].confirmed


def test_each_open_alarm_is_followed_on_its_own() -> None:
    fb = Feedback()
    first, second = uuid.uuid4(), uuid.uuid4()
    fb.raised(first, now=0.0)
    fb.raised(second, now=1.0)
    _apply(fb, _update(first, coming=1))
    _apply(fb, _update(second, nobody_reached=True))
    assert [a.status for a in fb.alarms] == [Status.COMING, Status.NOBODY_REACHED]
    assert fb.view.status is Status.NOBODY_REACHED  # the tray follows the newest
    _apply(fb, _update(second, AlarmState.RESOLVED))
    assert [a.status for a in fb.alarms] == [Status.COMING, Status.RESOLVED]
    fb.raised(uuid.uuid4(), now=2.0)  # a new alarm clears what is over, keeps what is open
    assert [a.status for a in fb.alarms] == [Status.COMING, Status.SENT]


def test_a_drill_is_followed_and_marked_but_leaves_the_tray_alone() -> None:
    fb = Feedback()
    drill = uuid.uuid4()
    fb.raised(drill, now=0.0, drill=True)
    assert fb.view.status is Status.IDLE
    _apply(fb, _update(drill, nobody_reached=True))
    assert notice_line(fb.alarms[0], "de").startswith("ÜBUNG – ")
    assert fb.view.status is Status.IDLE


def test_the_stored_deadline_applies_to_each_alarm() -> None:
    fb = Feedback()
    first, second = uuid.uuid4(), uuid.uuid4()
    fb.raised(first, now=0.0)
    fb.raised(second, now=2.0)
    fb.tick(now=STORED_DEADLINE)
    assert [a.status for a in fb.alarms] == [Status.NOT_DELIVERED, Status.SENT]


def test_a_restarted_agent_takes_up_its_open_alarms_from_the_raisers_status() -> None:
    fb = Feedback()  # a fresh agent: it knows nothing of the alarm raised before
    alarm = uuid.uuid4()
    # An alarm_update of an unknown alarm is a recipient's copy, not ours.
    assert fb.updated(alarm, AlarmState.ACTIVE, [], coming=1).status is Status.IDLE
    assert _apply(fb, _update(alarm, nobody_reached=True)) is Status.NOBODY_REACHED
    assert notice_line(fb.alarms[0], "de") == (
        "Früherer Alarm: Niemand erreicht – bitte telefonisch Hilfe holen (110)"
    )
    drill = uuid.uuid4()
    _apply(fb, _update(drill, kind=AlarmKind.DRILL))
    assert notice_line(fb.alarms[-1], "de").startswith("ÜBUNG – ")
    # An alarm that is over is not taken up.
    over = uuid.uuid4()
    fb.status(_update(over, AlarmState.RESOLVED))
    assert not fb.owns(over)


def test_with_raiser_status_the_plain_update_no_longer_decides() -> None:
    # The hub sends raiser_status before alarm_update; the update, without the new
    # fields, must not turn "nobody reached" back into "stored".
    fb = Feedback()
    alarm = uuid.uuid4()
    fb.raised(alarm, now=0.0)
    assert _apply(fb, _update(alarm, nobody_reached=True)) is Status.NOBODY_REACHED
    assert fb.updated(alarm, AlarmState.ACTIVE, [], coming=0).status is Status.NOBODY_REACHED


def test_a_hub_before_raiser_status_still_drives_the_status_by_its_updates() -> None:
    fb = Feedback()
    alarm = uuid.uuid4()
    fb.raised(alarm, now=0.0)
    assert fb.updated(alarm, AlarmState.ACTIVE, [], coming=2).status is Status.COMING
    assert fb.updated(alarm, AlarmState.ACKNOWLEDGED, []).status is Status.ACKNOWLEDGED


def test_neighbours_told_directly_are_counted_by_their_acknowledgements() -> None:
    fb = Feedback()
    alarm = uuid.uuid4()
    fb.raised(alarm, now=100.0, wall=0.0)
    fb.tick(now=100.0 + STORED_DEADLINE)
    [unstored] = fb.alarms
    assert "telefonisch" in notice_line(unstored, "de")
    fb.peers_told(alarm, 2, 3)
    [told] = fb.alarms
    assert "Nachbarn direkt benachrichtigt (2 von 3)" in notice_line(told, "de")
    assert "neighbours alerted directly (2 of 3)" in notice_line(told, "en")
    fb.stored(alarm)  # the hub has it after all: its word counts from now on
    [stored] = fb.alarms
    assert "Nachbarn" not in notice_line(stored, "de")


def test_no_neighbour_acknowledging_still_says_use_the_phone() -> None:
    fb = Feedback()
    alarm = uuid.uuid4()
    fb.raised(alarm, now=100.0, wall=0.0)
    fb.tick(now=100.0 + STORED_DEADLINE)
    fb.peers_told(alarm, 0, 2)
    [unstored] = fb.alarms
    assert "telefonisch" in notice_line(unstored, "de")
