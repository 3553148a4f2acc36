"""Synthetic sites, rooms and workstations, written with the hub's own set-up writes."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

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
from shared.domain import AlarmLevel, RoomLinkKind, WorkstationRole

SITE_SIZE = 300
"""Workstations per site where a layout spreads agents over sites (a large Jobcenter)."""


def token_for(run_key: str, workstation_id: str) -> str:
    """Per-run device token the bench knows without storing it anywhere."""
    return hmac.new(run_key.encode(), workstation_id.encode(), hashlib.sha256).hexdigest()


@dataclass
class Topology:
    """Who the bench connects, who raises, and how many recipients each alarm must reach."""

    level: AlarmLevel
    raisers: list[str] = field(default_factory=list)
    measured: list[str] = field(default_factory=list)  # recipients run by the main process
    idle: list[str] = field(default_factory=list)  # run by load-generator processes
    recipients_per_alarm: dict[str, int] = field(default_factory=dict)  # raiser -> count

    @property
    def total(self) -> int:
        return len(self.raisers) + len(self.measured) + len(self.idle)


def _fast_seeding(dbapi_connection: Any, _record: Any) -> None:
    # Seeding is not measured: skip the per-commit fsync the hub itself keeps (synchronous=FULL).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


ACTOR = "bench"


class Seeder:
    """Writes sites (one building, one floor each), numbered rooms and workstations."""

    def __init__(self, db: Database, run_key: str) -> None:
        self.db = db
        self.run_key = run_key
        self.rooms = 0
        self.floors: dict[int, int] = {}  # site -> its one floor

    async def site(self, name: str) -> int:
        site_id = (await create_site(self.db, ACTOR, name, "Benchstraße 1", scope=EVERY_SITE)).id
        building = await create_building(self.db, ACTOR, site_id, "Haus A", scope=EVERY_SITE)
        self.floors[site_id] = (
            await create_floor(self.db, ACTOR, building.id, "EG", scope=EVERY_SITE)
        ).id
        return site_id

    async def room(self, site_id: int) -> int:
        self.rooms += 1
        room = await create_room(
            self.db, ACTOR, self.floors[site_id], f"R{self.rooms:05d}", "Büro", scope=EVERY_SITE
        )
        return room.id

    async def link(self, room_id: int, neighbour_id: int) -> None:
        await set_room_link(
            self.db, ACTOR, room_id, neighbour_id, RoomLinkKind.LINK, scope=EVERY_SITE
        )

    async def ws(
        self, ws_id: str, site_id: int, room_id: int | None, role: WorkstationRole
    ) -> None:
        token = token_for(self.run_key, ws_id)
        await add_workstation(self.db, ACTOR, ws_id, site_id, room_id, token, role, f"PC {ws_id}")


async def _fill(seeder: Seeder, site_id: int, ids: list[str], per_room: int) -> None:
    room_id = 0
    for i, ws_id in enumerate(ids):
        if i % per_room == 0:
            room_id = await seeder.room(site_id)
        await seeder.ws(ws_id, site_id, room_id, WorkstationRole.STAFF)


async def _spread(seeder: Seeder, ids: list[str], first_site_free: int, site_id: int) -> None:
    """Fills the rest of site ``site_id`` (``first_site_free`` places), then new sites."""
    chunk, rest = ids[:first_site_free], ids[first_site_free:]
    await _fill(seeder, site_id, chunk, 3)
    n = 2
    while rest:
        chunk, rest = rest[:SITE_SIZE], rest[SITE_SIZE:]
        await _fill(seeder, await seeder.site(f"Standort {n}"), chunk, 3)
        n += 1


async def seed(url: str, scenario: str, agents: int, run_key: str, layout: str) -> Topology:
    db = Database(url)
    event.listen(db.engine.sync_engine, "connect", _fast_seeding)
    try:
        return await seed_with(Seeder(db, run_key), scenario, agents, layout)
    finally:
        await db.dispose()


async def seed_with(s: Seeder, scenario: str, agents: int, layout: str) -> Topology:
    """The scenario's sites, rooms and workstations, written through ``s``."""
    site = await s.site("Standort 1")
    if scenario in {"fanout50", "idle", "storm", "handshakes"}:
        # A raiser room with 50 neighbour rooms, one workstation each; everyone else idle.
        topo = Topology(AlarmLevel.THREAT, raisers=["raiser"])
        topo.measured = [f"nb-{i:03d}" for i in range(50)]
        raiser_room = await s.room(site)
        await s.ws("raiser", site, raiser_room, WorkstationRole.STAFF)
        for ws_id in topo.measured:
            room = await s.room(site)
            await s.link(raiser_room, room)
            await s.ws(ws_id, site, room, WorkstationRole.STAFF)
        topo.idle = [f"idle-{i:05d}" for i in range(agents - 51)]
        free = len(topo.idle) if layout == "one-site" else max(0, SITE_SIZE - 51)
        await _spread(s, topo.idle, free, site)
        topo.recipients_per_alarm = {"raiser": 50}
        return topo
    if scenario in {"all300", "all10k"}:
        # Level 3 from a room of its own: every other staff workstation of the site is warned.
        topo = Topology(AlarmLevel.DANGER, raisers=["raiser"])
        await s.ws("raiser", site, await s.room(site), WorkstationRole.STAFF)
        staff = [f"staff-{i:05d}" for i in range(agents - 1)]
        if scenario == "all300":
            topo.measured = staff
        else:
            topo.idle = staff
        await _fill(s, site, staff, 1 if scenario == "all300" else 4)
        topo.recipients_per_alarm = {"raiser": len(staff)}
        return topo
    if scenario == "sqlite":
        # A ring of single-workstation rooms, each linked to 2 rooms either side, plus
        # 2 security PCs: every alarm goes to 4 neighbours + 2 guards.
        topo = Topology(AlarmLevel.THREAT)
        n = agents - 2
        rooms = [await s.room(site) for _ in range(n)]
        for i in range(n):
            for step in (1, 2):
                await s.link(rooms[i], rooms[(i + step) % n])
        for i in range(n):
            ws_id = f"desk-{i:04d}"
            await s.ws(ws_id, site, rooms[i], WorkstationRole.STAFF)
            topo.raisers.append(ws_id)
            topo.recipients_per_alarm[ws_id] = 6
        guard_room = await s.room(site)
        for g in ("guard-1", "guard-2"):
            await s.ws(g, site, guard_room, WorkstationRole.SECURITY)
            topo.measured.append(g)
        return topo
    raise ValueError(f"unknown scenario {scenario}")
