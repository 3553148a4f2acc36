"""Who is told what about an alarm: a pure function of level, policy scopes and topology.

Staff inside the alerted scopes are sent to the room at levels 1-2. At level 3
they are warned to lock their door and stay away, and never told the room;
only security gets the location. Staff in the raiser's own room are never
alerted: a popup there would show the visitor that help was called.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dispatch.routing.policy import Scope
from shared.domain import AlarmLevel, Instruction, WorkstationRole


@dataclass(frozen=True, slots=True)
class Placement:
    """A workstation as routing sees it: its room and where that room is."""

    workstation_id: str
    room_id: int | None
    role: WorkstationRole
    floor_id: int | None = None
    building_id: int | None = None
    site_id: int | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    workstation_id: str
    instruction: Instruction
    with_location: bool


def route(
    level: AlarmLevel,
    raiser: Placement,
    scopes: frozenset[Scope],
    neighbour_rooms: frozenset[int],
    candidates: Iterable[Placement],
) -> list[Delivery]:
    deliveries: list[Delivery] = []
    for ws in candidates:
        if ws.workstation_id == raiser.workstation_id:
            continue
        if ws.role is WorkstationRole.SECURITY:
            if Scope.ALL_SECURITY in scopes or (
                Scope.SECURITY in scopes and ws.site_id == raiser.site_id
            ):
                deliveries.append(Delivery(ws.workstation_id, _security_instruction(level), True))
        elif raiser.room_id is None or ws.room_id == raiser.room_id:
            continue  # an unplaced raiser is routed to security only
        elif _in_scope(ws, raiser, scopes, neighbour_rooms):
            if level is AlarmLevel.DANGER:
                deliveries.append(Delivery(ws.workstation_id, Instruction.STAY_AWAY, False))
            else:
                deliveries.append(Delivery(ws.workstation_id, Instruction.COME_HELP, True))
    return deliveries


def _in_scope(
    ws: Placement, raiser: Placement, scopes: frozenset[Scope], neighbour_rooms: frozenset[int]
) -> bool:
    return (
        (Scope.NEIGHBOURS in scopes and ws.room_id in neighbour_rooms)
        or (Scope.FLOOR in scopes and ws.floor_id is not None and ws.floor_id == raiser.floor_id)
        or (
            Scope.BUILDING in scopes
            and ws.building_id is not None
            and ws.building_id == raiser.building_id
        )
        or (Scope.SITE in scopes and ws.site_id == raiser.site_id)
    )


def _security_instruction(level: AlarmLevel) -> Instruction:
    if level is AlarmLevel.DANGER:
        return Instruction.SECURE_AND_CALL_POLICE
    return Instruction.COME_HELP
