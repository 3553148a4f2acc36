"""Who is told what about an alarm: a pure function of level and room topology.

Levels 1-2 send the neighbour rooms and security to the room. Level 3 warns
every staff workstation of the site to lock their door and stay away, without
the location; only security gets the room. Staff in the raiser's own room are
never alerted: a popup there would show the visitor that help was called.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.domain import AlarmLevel, Instruction, WorkstationRole


@dataclass(frozen=True, slots=True)
class Placement:
    """A workstation as routing sees it."""

    workstation_id: str
    room_id: int | None
    role: WorkstationRole


@dataclass(frozen=True, slots=True)
class Delivery:
    workstation_id: str
    instruction: Instruction
    with_location: bool


def route(
    level: AlarmLevel,
    raiser: Placement,
    neighbour_rooms: frozenset[int],
    site_workstations: Iterable[Placement],
) -> list[Delivery]:
    deliveries: list[Delivery] = []
    for ws in site_workstations:
        if ws.workstation_id == raiser.workstation_id:
            continue
        if ws.role is WorkstationRole.SECURITY:
            deliveries.append(Delivery(ws.workstation_id, _security_instruction(level), True))
        elif raiser.room_id is None or ws.room_id == raiser.room_id:
            continue  # an unplaced raiser is routed to security only
        elif level is AlarmLevel.DANGER:
            deliveries.append(Delivery(ws.workstation_id, Instruction.STAY_AWAY, False))
        elif ws.room_id in neighbour_rooms:
            deliveries.append(Delivery(ws.workstation_id, Instruction.COME_HELP, True))
    return deliveries


def _security_instruction(level: AlarmLevel) -> Instruction:
    if level is AlarmLevel.DANGER:
        return Instruction.SECURE_AND_CALL_POLICE
    return Instruction.COME_HELP
