"""Which rooms are neighbours: an admin's links, plus rooms within a radius on the same floor.

Pure functions over plain values, so the rule is tested without a database.
An explicit ``exclude`` wins over the distance rule (a fire wall, another
unit); an explicit ``link`` wins over distance (a connecting door).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PlacedRoom:
    id: int
    floor_id: int
    x_m: float | None
    y_m: float | None


def neighbours(
    room: PlacedRoom,
    same_floor: Iterable[PlacedRoom],
    links: Iterable[int],
    excludes: Iterable[int],
    radius_m: float,
) -> frozenset[int]:
    """Ids of the rooms that count as ``room``'s neighbours."""
    excluded = set(excludes)
    found = set(links) - excluded
    if radius_m > 0 and room.x_m is not None and room.y_m is not None:
        for other in same_floor:
            if (
                other.id != room.id
                and other.id not in excluded
                and other.floor_id == room.floor_id
                and other.x_m is not None
                and other.y_m is not None
                and math.dist((room.x_m, room.y_m), (other.x_m, other.y_m)) <= radius_m
            ):
                found.add(other.id)
    found.discard(room.id)
    return frozenset(found)
