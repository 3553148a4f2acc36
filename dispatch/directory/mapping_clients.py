"""Thin clients in the CSV import (issue 19): rows of ``kind`` ``client`` map terminal server
clients in bulk, each as ``POST /session-clients`` maps one.

A client row names the client device as its sessions report it (``CLIENTNAME``). It is
matched as a session is matched (session_clients.py): by workstation id, the exact
spelling first, then any spelling. A match among the admin's workstations is a
workstation like any PC, so the row moves it with the import's PC rules. A name nobody
has is a new client, active in the row's room, without a device secret; the file is
all or nothing, so its name, room and uniqueness are checked with the other rows and
refused with the row's line. A name taken at a site the admin does not manage is
refused as ``POST /session-clients`` refuses it: ids are unique across the hub.

room_mapping.py stays the PC rules and calls these; nothing here knows the file.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.directory.session_clients import create_client, is_client_name
from dispatch.store.audit import AuditTrail
from dispatch.store.models import Workstation
from shared.domain import WorkstationRole

CLIENT = "client"
PC = "pc"
KINDS = (PC, CLIENT)


@dataclass(frozen=True, slots=True)
class Taken:
    """A workstation id, of any site, as a session's client name is matched against it."""

    id: str
    site_id: int


@dataclass(frozen=True, slots=True)
class NewClient:
    line: int
    name: str
    site_id: int
    room_id: int
    room_number: str
    role: WorkstationRole


async def read_taken(session: AsyncSession) -> dict[str, list[Taken]]:
    """Every workstation id by its lower-case spelling, of every site (ids are unique
    across the hub, whatever sites the admin manages)."""
    taken: dict[str, list[Taken]] = {}
    for ws_id, site_id in await session.execute(select(Workstation.id, Workstation.site_id)):
        taken.setdefault(ws_id.lower(), []).append(Taken(ws_id, site_id))
    return taken


def client_name(hostname: str, workstation_id: str) -> tuple[str, list[str]]:
    """The client's name from a row: a client's id and hostname are both its name."""
    if hostname and workstation_id and hostname.lower() != workstation_id.lower():
        return "", [
            f"hostname {hostname!r} and workstation_id {workstation_id!r} differ: "
            "a client's name is both"
        ]
    name = workstation_id or hostname
    if not name:
        return "", ["missing hostname or workstation_id"]
    return name, []


def match(name: str, taken: dict[str, list[Taken]]) -> tuple[Taken | None, list[str]]:
    """The workstation a session from ``name`` would be, if any (session_clients._matching)."""
    rows = taken.get(name.lower(), [])
    exact = [row for row in rows if row.id == name]
    if exact:
        return exact[0], []
    if len(rows) > 1:
        return None, [
            f"client name {name!r} matches several workstations "
            f"({', '.join(sorted(r.id for r in rows))}): give the exact spelling"
        ]
    return (rows[0] if rows else None), []


def out_of_scope(found: Taken) -> str:
    """Why a name taken at a site the admin cannot see is refused (not "unknown": the row
    would create it, and the hub cannot hold the name twice)."""
    return f"workstation {found.id} exists already, at another site"


def new_client(
    line: int,
    name: str,
    number: str,
    site: int | None,
    role: WorkstationRole | None,
    room_ids: dict[tuple[int, str], int],
    first_line: dict[str, tuple[int, str]],
) -> tuple[NewClient | None, list[str]]:
    """A client to create for a row, or why it cannot be.

    ``first_line``: the new clients' names so far (lower case: their first line and
    spelling), to refuse a name twice in the file in any spelling. The room is
    ``number`` at ``site``; without a site, at the one site of the admin's that has
    that number.
    """
    problems: list[str] = []
    if not is_client_name(name):
        problems.append(f"bad client name {name!r}: letters, digits, '.', '_', '-' (at most 64)")
    elif name.lower() in first_line:
        earlier, spelled = first_line[name.lower()]
        problems.append(f"duplicate row: client {spelled} is on line {earlier} too")
    else:
        first_line[name.lower()] = (line, name)
    room_id, site_id, more = _room(number, site, room_ids)
    problems += more
    if problems or room_id is None or site_id is None:
        return None, problems
    return NewClient(line, name, site_id, room_id, number, role or WorkstationRole.STAFF), []


def _room(
    number: str, site: int | None, room_ids: dict[tuple[int, str], int]
) -> tuple[int | None, int | None, list[str]]:
    if not number:
        return None, None, []  # the import reports "missing room_number" for every row
    if site is not None:
        room_id = room_ids.get((site, number))
        if room_id is None:
            return None, None, [f"unknown room {number!r} at site {site}"]
        return room_id, site, []
    sites = sorted(s for s, n in room_ids if n == number)
    if not sites:
        return None, None, [f"unknown room {number!r}"]
    if len(sites) > 1:
        listed = ", ".join(str(s) for s in sites)
        return None, None, [f"room {number!r} is at sites {listed}: give site_id"]
    return room_ids[(sites[0], number)], sites[0], []


def create(
    session: AsyncSession, audit: AuditTrail | None, actor: str, new: NewClient, source: str
) -> dict[str, object]:
    """Creates one planned client (rolled back with a dry run); its line in the report."""
    create_client(
        session,
        audit,
        actor,
        new.name,
        new.site_id,
        new.room_id,
        new.role,
        source=source,
    )
    return {
        "line": new.line,
        "workstation_id": new.name,
        "site_id": new.site_id,
        "room_number": new.room_number,
        "role": new.role.value,
    }
