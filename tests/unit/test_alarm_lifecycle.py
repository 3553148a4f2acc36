"""The alarm lifecycle table: every (state, event, actor, kind) and its answer, spelled out."""

from __future__ import annotations

import itertools

import pytest

from dispatch.alarms.lifecycle import (
    FOLLOW_UP_STATES,
    OPEN_STATES,
    Actor,
    AlarmError,
    Event,
    Transition,
    decide,
    states_allowing,
)
from shared.domain import AlarmKind, AlarmState

ACTIVE, ACKNOWLEDGED, ARRIVED = AlarmState.ACTIVE, AlarmState.ACKNOWLEDGED, AlarmState.ARRIVED
CANCELLED, RESOLVED = AlarmState.CANCELLED, AlarmState.RESOLVED
REPEATED = "repeated: nothing changes"

Answer = AlarmState | str  # the state afterwards, REPEATED, or the refusal's "code: message"

WHO = {
    Event.ACKNOWLEDGE: Actor.OPERATOR,
    Event.ARRIVE: Actor.OPERATOR,
    Event.RESOLVE: Actor.OPERATOR,
    Event.CANCEL: Actor.RAISER,
    Event.CANCEL_LATE: Actor.RAISER,
    Event.CANCEL_UNDER_DURESS: Actor.RAISER,
    Event.ANSWER: Actor.RECIPIENT,
    Event.ANSWER_ARRIVED: Actor.RECIPIENT,
    Event.ESCALATE: Actor.HUB,
    Event.TELL_NOBODY_REACHED: Actor.HUB,
    Event.CLOSE_SELF_TEST: Actor.HUB,
}
"""Who may cause each event; anyone else is refused."""

NOT_ANSWERED = "a self-test is not answered"
CLOSES_ITSELF = "a self-test closes itself"
WINDOW_PASSED = "the cancel window has passed; the alarm stays"
RESOLVED_ALREADY = "the alarm is resolved already"

ALARMS: dict[Event, dict[AlarmState, Answer]] = {
    Event.ACKNOWLEDGE: {
        ACTIVE: ACKNOWLEDGED,
        ACKNOWLEDGED: REPEATED,
        ARRIVED: ARRIVED,  # help is there already: only who acknowledged is recorded
        CANCELLED: "alarm is cancelled, cannot become acknowledged",
        RESOLVED: "alarm is resolved, cannot become acknowledged",
    },
    Event.ARRIVE: {
        ACTIVE: ARRIVED,
        ACKNOWLEDGED: ARRIVED,
        ARRIVED: REPEATED,
        CANCELLED: "alarm is cancelled, cannot become arrived",
        RESOLVED: "alarm is resolved, cannot become arrived",
    },
    Event.RESOLVE: {
        ACTIVE: RESOLVED,
        ACKNOWLEDGED: RESOLVED,
        ARRIVED: RESOLVED,
        CANCELLED: RESOLVED,  # security's follow-up is done
        RESOLVED: REPEATED,
    },
    Event.CANCEL: {
        ACTIVE: CANCELLED,
        ACKNOWLEDGED: CANCELLED,
        ARRIVED: CANCELLED,
        CANCELLED: "alarm is cancelled, cannot be cancelled",
        RESOLVED: "alarm is resolved, cannot be cancelled",
    },
    Event.CANCEL_LATE: {
        ACTIVE: WINDOW_PASSED,
        ACKNOWLEDGED: WINDOW_PASSED,
        ARRIVED: WINDOW_PASSED,
        CANCELLED: "alarm is cancelled, cannot be cancelled",
        RESOLVED: "alarm is resolved, cannot be cancelled",
    },
    # Not a cancel: the alarm stays open (its level becomes 3, outside the table).
    Event.CANCEL_UNDER_DURESS: {
        ACTIVE: ACTIVE,
        ACKNOWLEDGED: ACKNOWLEDGED,
        ARRIVED: ARRIVED,
        CANCELLED: "alarm is cancelled, cannot be cancelled",
        RESOLVED: "alarm is resolved, cannot be cancelled",
    },
    Event.ANSWER: {
        ACTIVE: ACTIVE,
        ACKNOWLEDGED: ACKNOWLEDGED,
        ARRIVED: ARRIVED,
        CANCELLED: RESOLVED_ALREADY,
        RESOLVED: RESOLVED_ALREADY,
    },
    Event.ANSWER_ARRIVED: {
        ACTIVE: ARRIVED,
        ACKNOWLEDGED: ARRIVED,
        ARRIVED: ARRIVED,
        CANCELLED: RESOLVED_ALREADY,
        RESOLVED: RESOLVED_ALREADY,
    },
    Event.ESCALATE: {
        ACTIVE: ACTIVE,
        ACKNOWLEDGED: "alarm is acknowledged, it does not widen",
        ARRIVED: "alarm is arrived, it does not widen",
        CANCELLED: "alarm is cancelled, it does not widen",
        RESOLVED: "alarm is resolved, it does not widen",
    },
    Event.TELL_NOBODY_REACHED: {
        ACTIVE: ACTIVE,
        ACKNOWLEDGED: "alarm is acknowledged, someone has taken it",
        ARRIVED: "alarm is arrived, someone has taken it",
        CANCELLED: "alarm is cancelled, someone has taken it",
        RESOLVED: "alarm is resolved, someone has taken it",
    },
    Event.CLOSE_SELF_TEST: {
        ACTIVE: "only a self-test closes itself",
        ACKNOWLEDGED: "only a self-test closes itself",
        ARRIVED: "only a self-test closes itself",
        CANCELLED: "alarm is cancelled, closed already",
        RESOLVED: "alarm is resolved, closed already",
    },
}
"""Alarms and drills."""

SELF_TESTS: dict[Event, dict[AlarmState, Answer]] = {
    **ALARMS,
    # The state is judged first: a double click on a closed self-test changes nothing.
    Event.ACKNOWLEDGE: {
        ACTIVE: CLOSES_ITSELF,
        ACKNOWLEDGED: REPEATED,
        ARRIVED: CLOSES_ITSELF,
        CANCELLED: "alarm is cancelled, cannot become acknowledged",
        RESOLVED: "alarm is resolved, cannot become acknowledged",
    },
    Event.ARRIVE: {
        ACTIVE: CLOSES_ITSELF,
        ACKNOWLEDGED: CLOSES_ITSELF,
        ARRIVED: REPEATED,
        CANCELLED: "alarm is cancelled, cannot become arrived",
        RESOLVED: "alarm is resolved, cannot become arrived",
    },
    Event.RESOLVE: {
        ACTIVE: CLOSES_ITSELF,
        ACKNOWLEDGED: CLOSES_ITSELF,
        ARRIVED: CLOSES_ITSELF,
        CANCELLED: CLOSES_ITSELF,
        RESOLVED: REPEATED,
    },
    Event.CANCEL_UNDER_DURESS: dict.fromkeys(AlarmState, "a self-test is not cancelled"),
    Event.ANSWER: dict.fromkeys(AlarmState, NOT_ANSWERED),
    Event.ANSWER_ARRIVED: dict.fromkeys(AlarmState, NOT_ANSWERED),
    Event.CLOSE_SELF_TEST: {
        ACTIVE: RESOLVED,
        ACKNOWLEDGED: RESOLVED,
        ARRIVED: RESOLVED,
        CANCELLED: "alarm is cancelled, closed already",
        RESOLVED: "alarm is resolved, closed already",
    },
}


def expected(state: AlarmState, event: Event, actor: Actor, kind: AlarmKind) -> Answer:
    if actor is not WHO[event]:
        return f"not_allowed: the {actor.value} cannot {event.value} an alarm"
    outcome = (SELF_TESTS if kind is AlarmKind.SELF_TEST else ALARMS)[event][state]
    if isinstance(outcome, AlarmState) or outcome == REPEATED:
        return outcome
    return f"not_allowed: {outcome}"  # every refusal of the lifecycle is this code's


def answer(state: AlarmState, event: Event, actor: Actor, kind: AlarmKind) -> Answer:
    try:
        transition = decide(state, event, actor, kind)
    except AlarmError as refused:
        return f"{refused.code}: {refused.message}"
    assert isinstance(transition, Transition)
    if transition.repeated:
        assert transition.to is state
        return REPEATED
    return transition.to


@pytest.mark.parametrize(
    ("state", "event", "actor", "kind"),
    list(itertools.product(AlarmState, Event, Actor, AlarmKind)),
)
def test_every_state_event_actor_and_kind(
    state: AlarmState, event: Event, actor: Actor, kind: AlarmKind
) -> None:
    assert answer(state, event, actor, kind) == expected(state, event, actor, kind)


def test_the_expected_tables_cover_every_state_and_event() -> None:
    for table in (ALARMS, SELF_TESTS):
        assert set(table) == set(Event)
        assert all(set(row) == set(AlarmState) for row in table.values())


def test_the_state_sets_the_queries_use() -> None:
    assert OPEN_STATES == ("active", "acknowledged", "arrived")
    assert FOLLOW_UP_STATES == ("active", "acknowledged", "arrived", "cancelled")
    assert states_allowing(Event.ESCALATE) == ("active",)
    assert states_allowing(Event.TELL_NOBODY_REACHED) == ("active",)
    assert set(states_allowing(Event.CLOSE_SELF_TEST)) == set(OPEN_STATES)
    assert set(states_allowing(Event.CANCEL)) == set(OPEN_STATES)
    assert set(states_allowing(Event.CANCEL_UNDER_DURESS)) == set(OPEN_STATES)
