"""What an alarm popup says about the place, line by line, without Qt.

Responders need to find the room fast: building and floor, the nearest marked
entrance (Gütersloher Modell) and the room's phone, as the hub's mapping says.
The same lines go into the agent's log ("popup text"), so what a colleague saw
can be checked afterwards; the raiser's name is left out of the log.
"""

from __future__ import annotations

from agent.i18n import Language, text
from shared.protocol import AlarmNotify, RoomRef


def where_lines(room: RoomRef, language: Language) -> list[str]:
    """Room, building and floor, entrance and phone; lines the hub left empty are left out."""
    lines = [text("popup.room", language, number=room.number, name=room.name)]
    if room.building:
        lines.append(
            text("popup.building_floor", language, building=room.building, floor=room.floor)
        )
    else:
        lines.append(text("popup.floor", language, floor=room.floor))
    if room.entrance:
        lines.append(text("popup.entrance", language, entrance=room.entrance))
    if room.phone:
        lines.append(text("popup.phone", language, phone=room.phone))
    return lines


def raiser_line(notify: AlarmNotify, language: Language) -> str | None:
    """Who raised it, when the hub told us; otherwise nothing at all.

    A level-3 warning to staff carries no raiser (nor room): saying "unknown"
    would only make people wonder, so the popup says nothing about the raiser.
    """
    return text("popup.raiser", language, raiser=notify.raiser) if notify.raiser else None


def count_line(notify: AlarmNotify, count: int, language: Language) -> str | None:
    """How many open alarms the popup stands for ("3 Alarme aus Raum 1.01"); one says nothing."""
    if count < 2:
        return None
    if notify.room is None:
        return text("popup.count_no_room", language, count=count)
    return text("popup.count", language, count=count, room=notify.room.number)
