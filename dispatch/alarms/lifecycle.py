"""The alarm lifecycle as one table: which event, by whom, moves an alarm from which state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from shared.domain import AlarmKind, AlarmState

OPEN_STATES = (
    AlarmState.ACTIVE.value,
    AlarmState.ACKNOWLEDGED.value,
    AlarmState.ARRIVED.value,
)
"""Alarms recipients are still told about."""
FOLLOW_UP_STATES = (*OPEN_STATES, AlarmState.CANCELLED.value)
"""Alarms the console still lists: a cancelled one waits for security to follow up."""


class AlarmError(Exception):
    """A request about an alarm that cannot be carried out; ``code`` is the protocol's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Actor(StrEnum):
    OPERATOR = "operator"  # a console user
    RAISER = "raiser"  # the workstation that raised the alarm
    RECIPIENT = "recipient"  # a workstation the alarm was routed to
    HUB = "hub"  # the hub's own timers and checks


class Event(StrEnum):
    ACKNOWLEDGE = "acknowledge"  # an operator takes the alarm
    ARRIVE = "arrive"  # an operator confirms help is at the room
    RESOLVE = "resolve"  # the all-clear (for a cancelled alarm: the follow-up is done)
    CANCEL = "cancel"  # the raiser withdraws it within the cancel window
    CANCEL_LATE = "cancel_late"  # the raiser tries to after the window
    # The raiser's duress withdrawal: looks like CANCEL to the raiser and staff, raises level 3.
    CANCEL_UNDER_DURESS = "cancel_under_duress"
    ANSWER = "answer"  # a recipient says "Ich komme" or "Kann nicht"
    ANSWER_ARRIVED = "answer_arrived"  # a recipient says "Bin da"
    ESCALATE = "escalate"  # the escalation timer widens the circle
    TELL_NOBODY_REACHED = "tell_nobody_reached"  # the raiser is told nobody was reached
    CLOSE_SELF_TEST = "close_self_test"  # a self-test's echo was confirmed, or timed out


class SelfTests(StrEnum):
    """How an event treats a self-test (an alarm whose echo goes to its raiser only)."""

    LIKE_ALARMS = "like_alarms"
    ONLY = "only"  # the event exists for self-tests alone
    REFUSED_AFTER_STATE = "refused_after_state"  # the state is judged first (a double click)
    NEVER = "never"  # refused whatever the state


@dataclass(frozen=True, slots=True)
class Rule:
    """Who may cause an event, the states it moves, and what it says otherwise."""

    actor: Actor
    moves: Mapping[AlarmState, AlarmState]  # from -> to; to == from: recorded, state stays
    refused: str  # for the other states; ``{state}`` is filled in
    repeated: frozenset[AlarmState] = frozenset()  # asked again: nothing changes
    self_tests: SelfTests = SelfTests.LIKE_ALARMS
    self_test_refused: str = ""
    refused_when_open: str = ""  # for an event that never moves an open alarm either


_ACTIVE, _ACKNOWLEDGED, _ARRIVED = AlarmState.ACTIVE, AlarmState.ACKNOWLEDGED, AlarmState.ARRIVED
_CANCELLED, _RESOLVED = AlarmState.CANCELLED, AlarmState.RESOLVED
_STAY_OPEN = {_ACTIVE: _ACTIVE, _ACKNOWLEDGED: _ACKNOWLEDGED, _ARRIVED: _ARRIVED}


def _operator(moves: Mapping[AlarmState, AlarmState], target: AlarmState) -> Rule:
    """An operator's event: asking again changes nothing, and a self-test closes itself."""
    return Rule(
        Actor.OPERATOR,
        moves,
        f"alarm is {{state}}, cannot become {target.value}",
        repeated=frozenset({target}),
        self_tests=SelfTests.REFUSED_AFTER_STATE,
        self_test_refused="a self-test closes itself",
    )


RULES: Mapping[Event, Rule] = {
    # Once help has arrived, acknowledging only records who: the state stays arrived.
    Event.ACKNOWLEDGE: _operator({_ACTIVE: _ACKNOWLEDGED, _ARRIVED: _ARRIVED}, _ACKNOWLEDGED),
    Event.ARRIVE: _operator({_ACTIVE: _ARRIVED, _ACKNOWLEDGED: _ARRIVED}, _ARRIVED),
    # For a cancelled alarm the all-clear ends security's follow-up.
    Event.RESOLVE: _operator(
        {s: _RESOLVED for s in (_ACTIVE, _ACKNOWLEDGED, _ARRIVED, _CANCELLED)}, _RESOLVED
    ),
    # Security keeps seeing a cancelled alarm: someone under pressure may have been made to.
    Event.CANCEL: Rule(
        Actor.RAISER,
        {_ACTIVE: _CANCELLED, _ACKNOWLEDGED: _CANCELLED, _ARRIVED: _CANCELLED},
        "alarm is {state}, cannot be cancelled",
    ),
    Event.CANCEL_LATE: Rule(
        Actor.RAISER,
        {},
        "alarm is {state}, cannot be cancelled",
        refused_when_open="the cancel window has passed; the alarm stays",
    ),
    # Someone forced to withdraw: the alarm stays open for security, whatever the window
    # (the agent offers it only inside the window; a late one is never thrown away).
    Event.CANCEL_UNDER_DURESS: Rule(
        Actor.RAISER,
        _STAY_OPEN,
        "alarm is {state}, cannot be cancelled",
        self_tests=SelfTests.NEVER,
        self_test_refused="a self-test is not cancelled",
    ),
    Event.ANSWER: Rule(
        Actor.RECIPIENT,
        _STAY_OPEN,
        "the alarm is resolved already",
        self_tests=SelfTests.NEVER,
        self_test_refused="a self-test is not answered",
    ),
    Event.ANSWER_ARRIVED: Rule(
        Actor.RECIPIENT,
        {_ACTIVE: _ARRIVED, _ACKNOWLEDGED: _ARRIVED, _ARRIVED: _ARRIVED},
        "the alarm is resolved already",
        self_tests=SelfTests.NEVER,
        self_test_refused="a self-test is not answered",
    ),
    # Only an alarm nobody has taken widens its circle or can have reached nobody.
    Event.ESCALATE: Rule(Actor.HUB, {_ACTIVE: _ACTIVE}, "alarm is {state}, it does not widen"),
    Event.TELL_NOBODY_REACHED: Rule(
        Actor.HUB, {_ACTIVE: _ACTIVE}, "alarm is {state}, someone has taken it"
    ),
    Event.CLOSE_SELF_TEST: Rule(
        Actor.HUB,
        {s: _RESOLVED for s in (_ACTIVE, _ACKNOWLEDGED, _ARRIVED)},
        "alarm is {state}, closed already",
        self_tests=SelfTests.ONLY,
        self_test_refused="only a self-test closes itself",
    ),
}


@dataclass(frozen=True, slots=True)
class Transition:
    """What an allowed event does: the state afterwards, or nothing at all when repeated."""

    to: AlarmState
    repeated: bool = False


def decide(
    state: AlarmState, event: Event, actor: Actor, kind: AlarmKind = AlarmKind.ALARM
) -> Transition:
    """The table's answer: the transition, or ``AlarmError`` with the code and message to send."""
    rule = RULES[event]
    if actor is not rule.actor:
        raise AlarmError("not_allowed", f"the {actor.value} cannot {event.value} an alarm")
    self_test = kind is AlarmKind.SELF_TEST
    if self_test and rule.self_tests is SelfTests.NEVER:
        raise AlarmError("not_allowed", rule.self_test_refused)
    if state in rule.repeated:
        return Transition(state, repeated=True)
    if rule.refused_when_open and state.value in OPEN_STATES:
        raise AlarmError("not_allowed", rule.refused_when_open)
    if state not in rule.moves:
        raise AlarmError("not_allowed", rule.refused.format(state=state.value))
    if (rule.self_tests is SelfTests.REFUSED_AFTER_STATE and self_test) or (
        rule.self_tests is SelfTests.ONLY and not self_test
    ):
        raise AlarmError("not_allowed", rule.self_test_refused)
    return Transition(rule.moves[state])


def states_allowing(event: Event) -> tuple[str, ...]:
    """The stored state values from which ``event`` moves an alarm (for queries)."""
    return tuple(state.value for state in RULES[event].moves)
