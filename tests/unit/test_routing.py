"""Who is told what: routing by level, policy scopes and room topology."""

from __future__ import annotations

from dispatch.routing.policy import DEFAULTS, Scope
from dispatch.routing.rules import Delivery, Placement, route
from shared.domain import AlarmLevel, Instruction, WorkstationRole

STAFF, SECURITY = WorkstationRole.STAFF, WorkstationRole.SECURITY
# Site 1: building 10 with floors 100 (rooms 1, 2, 5) and 101 (room 6); building 11 (room 7).
RAISER = Placement("pc-raiser", 1, STAFF, 100, 10, 1)
SAME_ROOM = Placement("pc-same-room", 1, STAFF, 100, 10, 1)
NEIGHBOUR = Placement("pc-neighbour", 2, STAFF, 100, 10, 1)
SAME_FLOOR = Placement("pc-same-floor", 5, STAFF, 100, 10, 1)
UPSTAIRS = Placement("pc-upstairs", 6, STAFF, 101, 10, 1)
OTHER_HOUSE = Placement("pc-other-house", 7, STAFF, 110, 11, 1)
UNPLACED = Placement("pc-unplaced", None, STAFF, None, None, 1)
GUARD = Placement("pc-guard", 9, SECURITY, 190, 10, 1)
OTHER_SITE_GUARD = Placement("pc-guard-2", 99, SECURITY, 900, 90, 2)
SITE = [RAISER, SAME_ROOM, NEIGHBOUR, SAME_FLOOR, UPSTAIRS, OTHER_HOUSE, UNPLACED, GUARD,
        OTHER_SITE_GUARD]  # fmt: skip
NEIGHBOURS = frozenset({2})


def routed(level: AlarmLevel, scopes: frozenset[Scope] | None = None,
           raiser: Placement = RAISER) -> dict[str, Delivery]:  # fmt: skip
    chosen = DEFAULTS[level].scopes if scopes is None else scopes
    return {d.workstation_id: d for d in route(level, raiser, chosen, NEIGHBOURS, SITE)}


def test_support_goes_to_neighbours_and_security_with_location() -> None:
    deliveries = routed(AlarmLevel.SUPPORT)
    assert set(deliveries) == {"pc-neighbour", "pc-guard"}
    assert all(
        d.instruction is Instruction.COME_HELP and d.with_location for d in deliveries.values()
    )


def test_threat_routes_like_support_by_default() -> None:
    assert routed(AlarmLevel.THREAT) == routed(AlarmLevel.SUPPORT)


def test_danger_warns_all_staff_without_location_and_sends_security_the_room() -> None:
    deliveries = routed(AlarmLevel.DANGER)
    staff = {"pc-neighbour", "pc-same-floor", "pc-upstairs", "pc-other-house", "pc-unplaced"}
    assert set(deliveries) == staff | {"pc-guard"}
    for ws in staff:
        assert deliveries[ws] == Delivery(ws, Instruction.STAY_AWAY, with_location=False)
    assert deliveries["pc-guard"] == Delivery("pc-guard", Instruction.SECURE_AND_CALL_POLICE, True)


def test_raiser_and_own_room_never_get_a_popup_the_visitor_could_see() -> None:
    everyone = frozenset(Scope)
    for level in AlarmLevel:
        deliveries = routed(level, everyone)
        assert "pc-raiser" not in deliveries
        assert "pc-same-room" not in deliveries


def test_unplaced_raiser_reaches_security_only() -> None:
    for level in AlarmLevel:
        assert set(routed(level, raiser=UNPLACED)) == {"pc-guard"}


def test_floor_and_building_scopes_widen_the_circle() -> None:
    assert set(routed(AlarmLevel.THREAT, frozenset({Scope.FLOOR}))) == {
        "pc-neighbour",
        "pc-same-floor",
    }
    assert set(routed(AlarmLevel.THREAT, frozenset({Scope.BUILDING}))) == {
        "pc-neighbour",
        "pc-same-floor",
        "pc-upstairs",
    }


def test_all_security_reaches_guards_of_other_sites() -> None:
    assert set(routed(AlarmLevel.THREAT, frozenset({Scope.ALL_SECURITY}))) == {
        "pc-guard",
        "pc-guard-2",
    }
    assert "pc-guard-2" not in routed(AlarmLevel.THREAT, frozenset({Scope.SECURITY}))


def test_level_three_never_gives_staff_the_room_whatever_the_scope() -> None:
    for delivery in routed(AlarmLevel.DANGER, frozenset(Scope)).values():
        if delivery.workstation_id not in {"pc-guard", "pc-guard-2"}:
            assert not delivery.with_location
            assert delivery.instruction is Instruction.STAY_AWAY


def test_security_raising_an_alarm_still_reaches_its_neighbours() -> None:
    guard_raises = Placement("pc-guard", 1, SECURITY, 100, 10, 1)
    deliveries = route(
        AlarmLevel.SUPPORT, guard_raises, DEFAULTS[AlarmLevel.SUPPORT].scopes, NEIGHBOURS, SITE
    )
    assert {d.workstation_id for d in deliveries} == {"pc-neighbour"}
