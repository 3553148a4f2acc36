"""The demo site: one floor of a Jobcenter with neighbour rooms, a guard login and agent configs."""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

from dispatch.directory.credentials import new_device_token
from dispatch.directory.operators import create_operator
from dispatch.directory.site_scope import EVERY_SITE
from dispatch.directory.site_setup import (
    create_building,
    create_floor,
    create_room,
    create_site,
    set_room_link,
)
from dispatch.directory.workstations import add_workstation
from dispatch.store.database import Database
from shared.domain import OperatorRole, RoomLinkKind, WorkstationRole

SITE = ("Jobcenter Musterstadt", "Musterstraße 1, 12345 Musterstadt")
BUILDING = "Haus A"
FLOORS = [("EG", 0), ("1. OG", 1)]
ROOMS = [  # number, name, floor, nearest marked entrance, x/y on the floor plan in metres
    ("E.01", "Empfang / Sicherheitsdienst", "EG", "Haupteingang", (12.0, 4.0)),
    ("1.01", "Beratung 1", "1. OG", "Eingang A / Treppenhaus 1", (4.0, 4.0)),
    ("1.02", "Beratung 2", "1. OG", "Eingang A / Treppenhaus 1", (9.0, 4.0)),
    ("1.03", "Beratung 3", "1. OG", "Eingang A / Treppenhaus 1", (14.0, 4.0)),
    ("1.04", "Leistungsabteilung", "1. OG", "Eingang B / Treppenhaus 2", (19.0, 4.0)),
    ("1.05", "Teamleitung", "1. OG", "Eingang B / Treppenhaus 2", (24.0, 4.0)),
]
NEIGHBOURS = [("1.01", "1.02"), ("1.02", "1.03"), ("1.03", "1.04"), ("1.04", "1.05")]
WORKSTATIONS = [  # id, room, role, who works there
    ("pc-e-01", "E.01", WorkstationRole.SECURITY, "Sicherheitsdienst"),
    ("pc-1-01", "1.01", WorkstationRole.STAFF, "Frau Albers"),
    ("pc-1-02", "1.02", WorkstationRole.STAFF, "Herr Becker"),
    ("pc-1-03", "1.03", WorkstationRole.STAFF, "Frau Celik"),
    ("pc-1-04", "1.04", WorkstationRole.STAFF, "Herr Demir"),
    ("pc-1-05", "1.05", WorkstationRole.STAFF, "Frau Engel"),
]
GUARD = ("wache", "Wache Empfang", OperatorRole.GUARD)
ACTOR = "demo"  # who the audit trail names for the demo's set-up
LOGIN_FILE = "demo-login.txt"
AGENTS_DIR = "demo-agents"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)


def agent_config(
    hub_url: str, workstation_id: str, token: str, user: str, agent_dir: Path
) -> dict[str, object]:
    """The settings an agent reads (see docs/agent.md)."""
    return {
        "hub_urls": [hub_url],
        "workstation_id": workstation_id,
        "token": token,
        "user": user,
        "hotkey": "ctrl+alt+p",
        "hotkey_level": 2,
        "language": "de",
        # The demo's agents run on one machine, where they would share one address and
        # port: the direct path between agents (issue 16) needs a PC each.
        "peer_port": 0,
        "data_dir": str(agent_dir / "data"),
        "log_dir": str(agent_dir / "log"),
    }


def _write_agent_config(path: Path, values: dict[str, object]) -> None:
    # JSON strings, numbers and arrays of them are valid TOML values.
    _write_private(
        path,
        "".join(
            f"{key} = {json.dumps(value, ensure_ascii=False)}\n" for key, value in values.items()
        ),
    )


def point_agents_at(data_dir: Path, hub_url: str) -> None:
    """A later start on another host or port updates the demo agents' configs."""
    for path in sorted((data_dir / AGENTS_DIR).glob("*.toml")):
        values = tomllib.loads(path.read_text(encoding="utf-8"))
        if values.get("hub_urls") != [hub_url]:
            _write_agent_config(path, {**values, "hub_urls": [hub_url]})


async def seed(db: Database, data_dir: Path, hub_url: str) -> DemoLogin:
    """Creates the demo site once; writes the guard login and one agent config per PC."""
    site_id = (await create_site(db, ACTOR, *SITE, scope=EVERY_SITE)).id
    building_id = (await create_building(db, ACTOR, site_id, BUILDING, scope=EVERY_SITE)).id
    floors = {
        name: (await create_floor(db, ACTOR, building_id, name, level, scope=EVERY_SITE)).id
        for name, level in FLOORS
    }
    rooms = {
        number: (
            await create_room(
                db,
                ACTOR,
                floors[floor],
                number,
                name,
                entrance=entrance,
                x_m=x,
                y_m=y,
                scope=EVERY_SITE,
            )
        ).id
        for number, name, floor, entrance, (x, y) in ROOMS
    }
    for a, b in NEIGHBOURS:
        await set_room_link(db, ACTOR, rooms[a], rooms[b], RoomLinkKind.LINK, scope=EVERY_SITE)
    for ws_id, room, role, user in WORKSTATIONS:
        token = new_device_token()
        await add_workstation(db, ACTOR, ws_id, site_id, rooms[room], token, role, user)
        agent_dir = data_dir / AGENTS_DIR / ws_id
        _write_agent_config(
            data_dir / AGENTS_DIR / f"{ws_id}.toml",
            agent_config(hub_url, ws_id, token, user, agent_dir),
        )
    username, display_name, operator_role = GUARD
    login = DemoLogin(username, secrets.token_urlsafe(12))
    await create_operator(
        db, ACTOR, username, login.password, operator_role, display_name, scope=EVERY_SITE
    )
    _write_private(data_dir / LOGIN_FILE, f"{login.username}\n{login.password}\n")
    return login


def read_login(data_dir: Path) -> DemoLogin:
    username, password = (data_dir / LOGIN_FILE).read_text(encoding="utf-8").split()
    return DemoLogin(username, password)


def session_secret(data_dir: Path) -> str:
    """The demo's own signing key, made once; production sets SILENT_ALARM_SESSION_SECRET."""
    path = data_dir / "session-secret"
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip()
