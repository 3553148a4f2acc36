"""The agent's status in words: what `silent-alarm-agent status` prints and the status window shows.

Qt-free: the running agent builds the status (``AgentApp.status``), the command
gets it over the instance socket as JSON, and both turn it into lines here.
"""

from __future__ import annotations

from typing import Any

from agent.chord import display_chord
from agent.i18n import Language, text
from agent.notice import reason_lines
from shared.protocol import WorkstationInfo

STATUS_TITLE = "Stiller Alarm – Status"
"""The status window's title (tray menu "Status und Einstellungen", `silent-alarm-agent show`)."""


def status_lines(status: dict[str, Any], language: Language) -> list[str]:
    """The status as the CLI prints it and the status window shows it."""
    yes_no = {True: text("status.yes", language), False: text("status.no", language)}
    lines = [
        text("status.workstation", language, name=status.get("workstation_id", "?")),
        text("status.connected", language, name=yes_no[bool(status.get("connected"))]),
        text("status.protected" if status.get("protected") else "status.not_protected", language),
    ]
    lines += reason_lines(status.get("reasons", []), language, status.get("hotkey_label", ""))
    lines.append(room_line(status, language))
    hotkeys = ", ".join(display_chord(h, language) for h in status.get("hotkeys", [])) or "–"
    lines.append(text("status.hotkeys", language, name=hotkeys))
    locked = ", ".join(sorted(status.get("locked", []))) or "–"
    lines.append(text("status.locked", language, name=locked))
    return lines


def room_status(info: WorkstationInfo | None) -> dict[str, str | None] | None:
    """The room as the status reply carries it (JSON over the instance socket)."""
    if info is None or info.room is None:
        return None
    room = info.room
    return {"number": room.number, "name": room.name, "floor": room.floor}


def room_line(status: dict[str, Any], language: Language) -> str:
    """The status's room line as the hub mapped it: the room, or that none is assigned."""
    room = status.get("room")
    if room:
        line = text("status.room", language, **room)
        client = status.get("session_client")
        if client:  # a remote session: the room is its client device's (issue 19)
            line += " " + text("status.session_of", language, name=client)
        return line
    if status.get("room_known"):
        return text("status.no_room", language)
    return text("status.room_unknown", language)
