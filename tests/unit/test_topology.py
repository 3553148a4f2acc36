"""The neighbour rule: admin links, rooms within the radius on the same floor, exclusions."""

from __future__ import annotations

from dispatch.directory.topology import PlacedRoom, neighbours

ROOM = PlacedRoom(1, floor_id=10, x_m=0.0, y_m=0.0)
NEAR = PlacedRoom(2, floor_id=10, x_m=3.0, y_m=4.0)  # 5 m away
FAR = PlacedRoom(3, floor_id=10, x_m=30.0, y_m=0.0)
OTHER_FLOOR = PlacedRoom(4, floor_id=11, x_m=0.0, y_m=0.0)  # right above
UNPLACED = PlacedRoom(5, floor_id=10, x_m=None, y_m=None)
FLOOR = [ROOM, NEAR, FAR, OTHER_FLOOR, UNPLACED]


def test_radius_joins_rooms_on_the_same_floor_only() -> None:
    assert neighbours(ROOM, FLOOR, [], [], radius_m=5.0) == {2}
    assert neighbours(ROOM, FLOOR, [], [], radius_m=4.9) == frozenset()


def test_radius_zero_means_links_only() -> None:
    assert neighbours(ROOM, FLOOR, [3], [], radius_m=0) == {3}


def test_link_joins_rooms_whatever_their_distance() -> None:
    assert neighbours(ROOM, FLOOR, [3, 4], [], radius_m=5.0) == {2, 3, 4}


def test_exclude_wins_over_distance_and_link() -> None:
    assert neighbours(ROOM, FLOOR, [3], [2, 3], radius_m=5.0) == frozenset()


def test_a_room_without_position_uses_links_only() -> None:
    assert neighbours(UNPLACED, FLOOR, [1], [], radius_m=100.0) == {1}


def test_a_room_is_never_its_own_neighbour() -> None:
    assert neighbours(ROOM, FLOOR, [1], [], radius_m=100.0) == {2, 3}
