"""Who is told what: routing by level and room topology."""

from __future__ import annotations

from dispatch.routing import Delivery, Placement, route
from shared.domain import AlarmLevel, Instruction, WorkstationRole

STAFF, SECURITY = WorkstationRole.STAFF, WorkstationRole.SECURITY
RAISER = Placement("pc-raiser", 1, STAFF)
SAME_ROOM = Placement("pc-same-room", 1, STAFF)
NEIGHBOUR = Placement("pc-neighbour", 2, STAFF)
FAR = Placement("pc-far", 5, STAFF)
UNPLACED = Placement("pc-unplaced", None, STAFF)
GUARD = Placement("pc-guard", 9, SECURITY)
SITE = [RAISER, SAME_ROOM, NEIGHBOUR, FAR, UNPLACED, GUARD]


def deliveries(level: AlarmLevel, raiser: Placement = RAISER) -> dict[str, Delivery]:
    return {d.workstation_id: d for d in route(level, raiser, frozenset({2}), SITE)}


def test_support_goes_to_neighbours_and_security_with_location() -> None:
    routed = deliveries(AlarmLevel.SUPPORT)
    assert set(routed) == {"pc-neighbour", "pc-guard"}
    assert all(d.instruction is Instruction.COME_HELP and d.with_location for d in routed.values())


def test_threat_routes_like_support() -> None:
    assert deliveries(AlarmLevel.THREAT) == deliveries(AlarmLevel.SUPPORT)


def test_danger_warns_all_staff_without_location_and_sends_security_the_room() -> None:
    routed = deliveries(AlarmLevel.DANGER)
    assert set(routed) == {"pc-neighbour", "pc-far", "pc-unplaced", "pc-guard"}
    for staff in ("pc-neighbour", "pc-far", "pc-unplaced"):
        assert routed[staff] == Delivery(staff, Instruction.STAY_AWAY, with_location=False)
    assert routed["pc-guard"] == Delivery("pc-guard", Instruction.SECURE_AND_CALL_POLICE, True)


def test_raiser_and_own_room_never_get_a_popup_the_visitor_could_see() -> None:
    for level in AlarmLevel:
        routed = deliveries(level)
        assert "pc-raiser" not in routed
        assert "pc-same-room" not in routed


def test_unplaced_raiser_reaches_security_only() -> None:
    for level in AlarmLevel:
        assert set(deliveries(level, raiser=UNPLACED)) == {"pc-guard"}


def test_security_raising_an_alarm_still_reaches_its_neighbours() -> None:
    guard_raises = Placement("pc-guard", 1, SECURITY)
    routed = route(AlarmLevel.SUPPORT, guard_raises, frozenset({2}), SITE)
    assert {d.workstation_id for d in routed} == {"pc-neighbour"}
