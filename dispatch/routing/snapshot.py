"""What routing needs, held in memory: placements, rooms, neighbour words, radii and policies.

The alarm writer routes from this snapshot instead of querying the topology for
every alarm. It is loaded whole and reused while the store's ``topology_version``
counter stays put; database triggers raise that counter on every change routing
depends on (migration 0006), so a change by the CLI, the admin API, another hub
instance or plain SQL is seen by the next batch of alarms.

The snapshot is also the one source of where a workstation is: the room every
display of an alarm names (popups, console, floor plan, police panel) comes from
the same read that routed it, so who was alerted and the room shown can never
disagree; and a connected agent is told its new room when a reload shows it moved
(``workstation_updates``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import structlog
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.directory import topology
from dispatch.directory.rooms import room_ref
from dispatch.routing.policy import DEFAULTS, Policy, Scope, saved_policies
from dispatch.routing.rules import Delivery, Placement, route
from dispatch.store.models import (
    Building,
    Floor,
    Room,
    RoomNeighbour,
    Site,
    TopologyVersion,
    Workstation,
)
from shared.domain import AlarmLevel, RoomLinkKind, WorkstationRole, WorkstationState
from shared.protocol import LevelSettings, RoomRef, WorkstationInfo, WorkstationUpdate

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RoomWords:
    """An admin's links and exclusions of one room (dispatch.store.models.RoomNeighbour)."""

    links: frozenset[int] = frozenset()
    excludes: frozenset[int] = frozenset()


@dataclass(slots=True)
class RoutingSnapshot:
    """The routing topology of every site at one ``version`` of the store.

    ``version`` None means the store has no counter row: the snapshot is then
    never reused (see ``refreshed``).
    """

    version: int | None
    placements: dict[str, Placement]  # non-revoked workstations by id
    rooms: dict[int, topology.PlacedRoom]
    room_sites: dict[int, int]
    words: dict[int, RoomWords]
    radii: dict[int, float]  # site -> neighbour radius in metres
    policies: dict[tuple[int, AlarmLevel], Policy]  # saved ones; the rest use DEFAULTS
    room_refs: dict[int, RoomRef] = field(default_factory=dict)  # what people are told
    room_buildings: dict[int, int] = field(default_factory=dict)  # room -> building
    # Revoked workstations per site: the epoch of the site's peer key (dispatch/store/peer_key.py).
    revoked: dict[int, int] = field(default_factory=dict)
    _by_room: dict[int, list[Placement]] = field(init=False)
    _by_floor: dict[int, list[Placement]] = field(init=False)
    _by_building: dict[int, list[Placement]] = field(init=False)
    _by_site: dict[int, list[Placement]] = field(init=False)
    _security_by_site: dict[int, list[Placement]] = field(init=False)
    _rooms_by_floor: dict[int, list[topology.PlacedRoom]] = field(init=False)
    _neighbours: dict[int, frozenset[int]] = field(init=False)  # computed on first use

    def __post_init__(self) -> None:
        by_room, by_floor, by_building, by_site, security = (defaultdict(list) for _ in range(5))
        for p in self.placements.values():
            if p.room_id is not None:
                by_room[p.room_id].append(p)
            if p.floor_id is not None:
                by_floor[p.floor_id].append(p)
            if p.building_id is not None:
                by_building[p.building_id].append(p)
            if p.site_id is not None:
                by_site[p.site_id].append(p)
                if p.role is WorkstationRole.SECURITY:
                    security[p.site_id].append(p)
        rooms_by_floor: dict[int, list[topology.PlacedRoom]] = defaultdict(list)
        for room in self.rooms.values():
            rooms_by_floor[room.floor_id].append(room)
        self._by_room, self._by_floor, self._by_building = by_room, by_floor, by_building
        self._by_site, self._security_by_site = by_site, security
        self._rooms_by_floor = rooms_by_floor
        self._neighbours = {}

    def placement(self, workstation_id: str) -> Placement | None:
        """Where a non-revoked workstation is; None for a revoked or unknown one."""
        return self.placements.get(workstation_id)

    def room_ref(self, room_id: int | None) -> RoomRef | None:
        """The room as popups, console and police panel name it; None for no room."""
        return None if room_id is None else self.room_refs.get(room_id)

    def workstation_info(self, workstation_id: str) -> WorkstationInfo:
        """What the workstation's agent is told about itself (``workstation_update``)."""
        placement = self.placements.get(workstation_id)
        room = self.room_ref(placement.room_id) if placement is not None else None
        return WorkstationInfo(workstation_id=workstation_id, room=room)

    def placement_in(self, workstation: Placement, room_id: int | None) -> Placement:
        """``workstation`` as if it sat in ``room_id``: an alarm is routed around the room it
        was stored with (escalation), even if its PC has been moved since."""
        if room_id == workstation.room_id or room_id not in self.rooms:
            return workstation
        return Placement(
            workstation.workstation_id,
            room_id,
            workstation.role,
            self.rooms[room_id].floor_id,
            self.room_buildings.get(room_id),
            self.room_sites.get(room_id, workstation.site_id),
        )

    def level_settings(self, site_id: int | None) -> list[LevelSettings]:
        """What an agent at this site needs of its policy (as in the welcome)."""
        return [
            LevelSettings(level=level, countdown_s=p.countdown_s, cancel_window_s=p.cancel_window_s)
            for level in AlarmLevel
            for p in (self.policy(site_id, level),)
        ]

    def policy(self, site_id: int | None, level: AlarmLevel) -> Policy:
        if site_id is None:
            return DEFAULTS[level]
        return self.policies.get((site_id, level), DEFAULTS[level])

    def neighbours(self, room_id: int | None) -> frozenset[int]:
        """The room's neighbour rooms by the site's rule (dispatch.directory.topology)."""
        if room_id is None:
            return frozenset()
        found = self._neighbours.get(room_id)
        if found is None:
            words = self.words.get(room_id, RoomWords())
            room = self.rooms.get(room_id)
            if room is None:  # a room the snapshot does not know: the admin's links only
                found = words.links - words.excludes
            else:
                found = topology.neighbours(
                    room,
                    self._rooms_by_floor.get(room.floor_id, ()),
                    words.links,
                    words.excludes,
                    self.radii.get(self.room_sites.get(room_id, -1), 0.0),
                )
            self._neighbours[room_id] = found
        return found

    def route(
        self, level: AlarmLevel, raiser: Placement, scopes: frozenset[Scope]
    ) -> list[Delivery]:
        """Who is told what (dispatch.routing.rules.route) for these scopes of the raiser."""
        neighbour_rooms = (
            self.neighbours(raiser.room_id) if Scope.NEIGHBOURS in scopes else frozenset()
        )
        candidates = self._candidates(raiser, scopes, neighbour_rooms)
        return route(level, raiser, scopes, neighbour_rooms, candidates)

    def _candidates(
        self, raiser: Placement, scopes: frozenset[Scope], neighbour_rooms: frozenset[int]
    ) -> Iterable[Placement]:
        """Only the workstations the scopes can reach, each once: a level-2 alarm skips the site."""
        reach: list[list[Placement]] = []
        if Scope.NEIGHBOURS in scopes:
            reach.extend(self._by_room.get(room, []) for room in neighbour_rooms)
        if Scope.FLOOR in scopes and raiser.floor_id is not None:
            reach.append(self._by_floor.get(raiser.floor_id, []))
        if Scope.BUILDING in scopes and raiser.building_id is not None:
            reach.append(self._by_building.get(raiser.building_id, []))
        if Scope.SITE in scopes and raiser.site_id is not None:
            reach.append(self._by_site.get(raiser.site_id, []))
        if Scope.SECURITY in scopes and raiser.site_id is not None:
            reach.append(self._security_by_site.get(raiser.site_id, []))
        if Scope.ALL_SECURITY in scopes:
            reach.extend(self._security_by_site.values())
        unique: dict[str, Placement] = {}
        for group in reach:
            for placement in group:
                unique[placement.workstation_id] = placement
        return unique.values()


async def current_version(session: AsyncSession) -> int | None:
    """The store's topology version; None if its row is missing (then nothing is reused)."""
    return await session.scalar(select(TopologyVersion.version).where(TopologyVersion.id == 1))


async def refreshed(
    session: AsyncSession, snapshot: RoutingSnapshot | None, version: int | None
) -> RoutingSnapshot:
    """``snapshot`` if it was loaded at ``version``, else a new one read in this transaction.

    Read ``version`` first, in the same transaction: a change committed between
    that read and the reload makes the new snapshot newer than its number, so the
    next batch loads again. A snapshot older than its number can never happen.
    """
    if version is None:
        log.warning("topology_version_missing", hint="run 'silent-alarm-dispatch migrate'")
    elif snapshot is not None and snapshot.version == version:
        return snapshot
    return await load_snapshot(session, version)


async def read_placements(session: AsyncSession, *where: ColumnElement[bool]) -> list[Placement]:
    """Workstations with the floor and building of their room, as routing needs them."""
    rows = await session.execute(
        select(
            Workstation.id,
            Workstation.room_id,
            Workstation.role,
            Room.floor_id,
            Floor.building_id,
            Workstation.site_id,
        )
        .outerjoin(Room, Room.id == Workstation.room_id)
        .outerjoin(Floor, Floor.id == Room.floor_id)
        .where(*where)
    )
    return [Placement(r[0], r[1], WorkstationRole(r[2]), r[3], r[4], r[5]) for r in rows]


async def load_snapshot(session: AsyncSession, version: int | None) -> RoutingSnapshot:
    """Reads the whole routing topology of every site (six statements)."""
    placements = {
        p.workstation_id: p
        for p in await read_placements(session, Workstation.state != WorkstationState.REVOKED)
    }
    rooms: dict[int, topology.PlacedRoom] = {}
    room_sites: dict[int, int] = {}
    room_refs: dict[int, RoomRef] = {}
    room_buildings: dict[int, int] = {}
    for room, floor_name, building_id, building_name in await session.execute(
        select(Room, Floor.name, Building.id, Building.name)
        .join(Floor, Floor.id == Room.floor_id)
        .join(Building, Building.id == Floor.building_id)
    ):
        rooms[room.id] = topology.PlacedRoom(room.id, room.floor_id, room.x_m, room.y_m)
        room_sites[room.id] = room.site_id
        room_buildings[room.id] = building_id
        room_refs[room.id] = room_ref(room, floor_name, building_name)
    links: dict[int, set[int]] = defaultdict(set)
    excludes: dict[int, set[int]] = defaultdict(set)
    for room_id, neighbour_id, kind in await session.execute(
        select(RoomNeighbour.room_id, RoomNeighbour.neighbour_id, RoomNeighbour.kind)
    ):
        if kind == RoomLinkKind.LINK:
            links[room_id].add(neighbour_id)
        elif kind == RoomLinkKind.EXCLUDE:
            excludes[room_id].add(neighbour_id)
    words = {
        room_id: RoomWords(frozenset(links.get(room_id, ())), frozenset(excludes.get(room_id, ())))
        for room_id in links.keys() | excludes.keys()
    }
    radii = {
        site_id: radius
        for site_id, radius in await session.execute(select(Site.id, Site.neighbour_radius_m))
    }
    revoked: dict[int, int] = {
        site_id: count
        for site_id, count in await session.execute(
            select(Workstation.site_id, func.count())
            .where(Workstation.state == WorkstationState.REVOKED)
            .group_by(Workstation.site_id)
        )
    }
    log.info("routing_snapshot_loaded", version=version, workstations=len(placements))
    return RoutingSnapshot(
        version,
        placements,
        rooms,
        room_sites,
        words,
        radii,
        await saved_policies(session),
        room_refs,
        room_buildings,
        revoked,
    )


def workstation_updates(
    before: RoutingSnapshot, after: RoutingSnapshot, workstation_ids: Iterable[str]
) -> dict[str, WorkstationUpdate]:
    """What to tell each workstation among ``workstation_ids`` whose room, or what its
    room is called, differs between two snapshots (with the new site's level settings
    if it changed site).

    Cheap for thousands of connected agents: placements are compared first, and a
    message is built only for those that changed. A workstation that is gone from
    ``after`` (revoked) is left out: its socket is being closed.
    """
    changed_rooms = {
        room_id
        for room_id in before.room_refs.keys() | after.room_refs.keys()
        if before.room_refs.get(room_id) != after.room_refs.get(room_id)
    }
    updates: dict[str, WorkstationUpdate] = {}
    for workstation_id in workstation_ids:
        now = after.placements.get(workstation_id)
        if now is None:
            continue
        then = before.placements.get(workstation_id)
        then_room = then.room_id if then is not None else None
        if now.room_id != then_room or now.room_id in changed_rooms:
            moved_site = then is None or then.site_id != now.site_id
            updates[workstation_id] = WorkstationUpdate(
                workstation=after.workstation_info(workstation_id),
                levels=after.level_settings(now.site_id) if moved_site else None,
            )
    return updates
