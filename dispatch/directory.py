"""Sites, rooms, neighbours, workstations and operators: who and where."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import structlog
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import topology
from dispatch.audit import AuditTrail
from dispatch.auth import (
    hash_password,
    hash_token,
    new_device_token,
    token_matches,
    verify_password,
)
from dispatch.coalesce import HANDSHAKE_LINGER_S, Coalescer
from dispatch.database import Database, core_table
from dispatch.models import (
    Building,
    EnrolmentCode,
    Floor,
    Operator,
    OperatorSite,
    Room,
    RoomNeighbour,
    Site,
    Workstation,
)
from shared.domain import WorkstationRole
from shared.protocol import RoomRef, utc_now

log = structlog.get_logger(__name__)

REVOKED = "revoked"  # a workstation whose secret no longer opens a connection
PENDING = "pending"  # enrolled, waiting for an admin to assign a room
ACTIVE = "active"

LINK = "link"
EXCLUDE = "exclude"

# Login brute-force limit per operator: every LOCK_AFTER-th failure in a row locks the account.
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=5)

MAX_CODE_HOURS = 168
_CODE_BYTES = 15  # 120 bits, shown as 24 base32 characters in groups of four


class DirectoryError(ValueError):
    """A request that would leave the directory inconsistent; the message says why."""


class NotFound(DirectoryError):
    """The thing addressed does not exist."""


class Conflict(DirectoryError):
    """The change collides with what exists (a duplicate, or something still in use)."""


class EnrolmentRefused(DirectoryError):
    """Unknown, used or expired enrolment code; nothing was written."""


@dataclass(frozen=True, slots=True)
class WorkstationView:
    """Who a connected agent is, read once at its handshake.

    Where it is is not kept here: a PC can be moved while its agent stays
    connected, so alarms and the agent's room updates read the placement from the
    routing snapshot (dispatch/routing_snapshot.py). ``site_id`` and
    ``room_at_connect`` only fill the welcome (the site's level settings and the
    room the agent shows until the hub tells it otherwise).
    """

    id: str
    site_id: int
    role: WorkstationRole
    display_name: str
    self_test_at: datetime | None = None
    self_test_ok: bool | None = None
    room_at_connect: RoomRef | None = None


@dataclass(frozen=True, slots=True)
class OperatorView:
    id: int
    username: str
    display_name: str
    role: str
    sites: frozenset[int] = frozenset()  # the sites covered; empty: every site
    session_epoch: int = 0  # sessions started at another epoch are over (dispatch/sessions.py)


async def room_refs(session: AsyncSession, room_ids: Iterable[int]) -> dict[int, RoomRef]:
    """What recipients are told about rooms: number, name, floor, building, entrance."""
    wanted = set(room_ids)
    if not wanted:
        return {}
    rows = await session.execute(
        select(Room, Floor.name, Building.name)
        .join(Floor, Floor.id == Room.floor_id)
        .join(Building, Building.id == Floor.building_id)
        .where(Room.id.in_(wanted))
    )
    return {room.id: room_ref(room, floor, building) for room, floor, building in rows}


def room_ref(room: Room, floor: str, building: str | None) -> RoomRef:
    """A room as people are told it: number, name, floor, building, entrance, phone."""
    return RoomRef(
        number=room.number,
        name=room.name,
        floor=floor,
        building=building,
        entrance=room.entrance or None,
        phone=room.phone or None,
    )


_CREDENTIALS = (
    select(
        Workstation.id,
        Workstation.token_hash,
        Workstation.site_id,
        Workstation.role,
        Workstation.display_name,
        Workstation.room_id,
        Workstation.self_test_at,
        Workstation.self_test_ok,
        Room.number,
        Room.name.label("room_name"),
        Room.entrance,
        Room.phone,
        Floor.name.label("floor"),
        Building.name.label("building"),
    )
    .outerjoin(Room, Room.id == Workstation.room_id)
    .outerjoin(Floor, Floor.id == Room.floor_id)
    .outerjoin(Building, Building.id == Floor.building_id)
)
"""What a handshake needs of a workstation and its room (the caller adds the WHERE)."""

_CREDENTIALS_OF = _CREDENTIALS.where(
    Workstation.id.in_(bindparam("ids", expanding=True)), Workstation.state != REVOKED
)
"""``_CREDENTIALS`` of the workstations in ``ids`` that are not revoked; built once."""

_WORKSTATIONS = core_table(Workstation)
_REVOKED_AMONG = select(Workstation.id).where(
    Workstation.id.in_(bindparam("ids", expanding=True)), Workstation.state == REVOKED
)
_SEEN = (
    update(_WORKSTATIONS)
    .where(_WORKSTATIONS.c.id == bindparam("ws"))
    .values(last_seen_at=bindparam("at"), agent_version=bindparam("version"))
)
"""One workstation's last contact, run for many at once (executemany): no ORM objects."""


class Directory:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._credentials = Coalescer(
            self._load_credentials, name="workstation-credentials", linger=HANDSHAKE_LINGER_S
        )

    # --- set-up (CLI, demo, later the admin API) ---------------------------

    async def add_site(self, name: str, address: str = "") -> int:
        async with self._db.write() as session:
            site = Site(name=name, address=address)
            session.add(site)
            await session.flush()
            return site.id

    async def add_building(self, site_id: int, name: str, address: str = "") -> int:
        async with self._db.write() as session:
            if await session.scalar(
                select(Building.id).where(Building.site_id == site_id, Building.name == name)
            ):
                raise DirectoryError(f"building {name} exists already at this site")
            building = Building(site_id=site_id, name=name, address=address)
            session.add(building)
            await session.flush()
            return building.id

    async def add_floor(self, building_id: int, name: str, level: int = 0) -> int:
        async with self._db.write() as session:
            if await session.scalar(
                select(Floor.id).where(Floor.building_id == building_id, Floor.name == name)
            ):
                raise DirectoryError(f"floor {name} exists already in this building")
            floor = Floor(building_id=building_id, name=name, level=level)
            session.add(floor)
            await session.flush()
            return floor.id

    async def add_room(
        self,
        floor_id: int,
        number: str,
        name: str,
        *,
        phone: str = "",
        entrance: str = "",
        x_m: float | None = None,
        y_m: float | None = None,
    ) -> int:
        async with self._db.write() as session:
            site_id = await session.scalar(
                select(Building.site_id)
                .join(Floor, Floor.building_id == Building.id)
                .where(Floor.id == floor_id)
            )
            if site_id is None:
                raise DirectoryError(f"no floor {floor_id}")
            duplicate = await session.scalar(
                select(Room.id).where(Room.site_id == site_id, Room.number == number)
            )
            if duplicate is not None:
                raise DirectoryError(f"room {number} exists already at this site")
            room = Room(
                site_id=site_id,
                floor_id=floor_id,
                number=number,
                name=name,
                phone=phone,
                entrance=entrance,
                x_m=x_m,
                y_m=y_m,
            )
            session.add(room)
            await session.flush()
            return room.id

    async def link_rooms(self, room_id: int, neighbour_id: int) -> None:
        if room_id == neighbour_id:
            raise DirectoryError("a room cannot be its own neighbour")
        async with self._db.write() as session:
            for a, b in ((room_id, neighbour_id), (neighbour_id, room_id)):
                if await session.get(RoomNeighbour, (a, b)) is None:
                    session.add(RoomNeighbour(room_id=a, neighbour_id=b))

    async def room_id(self, site_id: int, number: str) -> int:
        async with self._db.read() as session:
            found = await session.scalar(
                select(Room.id).where(Room.site_id == site_id, Room.number == number)
            )
        if found is None:
            raise DirectoryError(f"no room {number} at site {site_id}")
        return found

    async def add_workstation(
        self,
        workstation_id: str,
        site_id: int,
        room_id: int | None,
        token: str,
        role: WorkstationRole = WorkstationRole.STAFF,
        display_name: str = "",
    ) -> None:
        async with self._db.write() as session:
            if await session.get(Workstation, workstation_id) is not None:
                raise DirectoryError(f"workstation {workstation_id} exists already")
            session.add(
                Workstation(
                    id=workstation_id,
                    site_id=site_id,
                    room_id=room_id,
                    role=role.value,
                    display_name=display_name,
                    token_hash=hash_token(token),
                    created_at=utc_now(),
                )
            )

    async def add_operator(self, username: str, password: str, role: str, display_name: str) -> int:
        async with self._db.write() as session:
            if await session.scalar(select(Operator.id).where(Operator.username == username)):
                raise DirectoryError(f"operator {username} exists already")
            operator = Operator(
                username=username,
                display_name=display_name,
                role=role,
                password_hash=hash_password(password),
                created_at=utc_now(),
            )
            session.add(operator)
            await session.flush()
            return operator.id

    async def is_empty(self) -> bool:
        async with self._db.read() as session:
            return await session.scalar(select(Site.id).limit(1)) is None

    # --- authentication -----------------------------------------------------

    async def authenticate_workstation(
        self, workstation_id: str, token: str
    ) -> WorkstationView | None:
        """The workstation if the token is its own and it is not revoked.

        Lookups that arrive together (a reconnect storm) share one read.
        """
        found = await self._credentials.get(workstation_id)
        if found is None:
            return None
        token_hash, view = found
        return view if token_matches(token_hash, token) else None

    async def _load_credentials(
        self, workstation_ids: list[str]
    ) -> dict[str, tuple[str, WorkstationView]]:
        # Read at every handshake (never cached, so a revocation acts at once): one
        # statement with the room, and plain rows, not ORM objects, for a storm's thousands.
        rows = await self._db.rows(_CREDENTIALS_OF, {"ids": workstation_ids})
        return {
            row.id: (
                row.token_hash,
                WorkstationView(
                    id=row.id,
                    site_id=row.site_id,
                    role=WorkstationRole(row.role),
                    display_name=row.display_name,
                    self_test_at=row.self_test_at,
                    self_test_ok=row.self_test_ok,
                    room_at_connect=None
                    if row.room_id is None
                    else RoomRef(
                        number=row.number,
                        name=row.room_name,
                        floor=row.floor,
                        building=row.building,
                        entrance=row.entrance or None,
                        phone=row.phone or None,
                    ),
                ),
            )
            for row in rows
        }

    async def record_seen(self, seen: dict[str, tuple[datetime, str]]) -> set[str]:
        """Last contact and agent version of many workstations in one transaction.

        Returns the ids among them that are revoked by now (for example by the CLI in
        another process), so the caller can close their sockets.
        """
        if not seen:
            return set()
        async with self._db.write() as session:
            revoked = set(await session.scalars(_REVOKED_AMONG, {"ids": list(seen)}))
            fresh = [
                {"ws": ws, "at": at, "version": version}
                for ws, (at, version) in seen.items()
                if ws not in revoked
            ]
            if fresh:
                await session.execute(_SEEN, fresh)
        return revoked

    async def authenticate_operator(
        self, username: str, password: str, *, client: str | None = None
    ) -> OperatorView | None:
        """The operator if the password is right and the account neither locked nor disabled.

        Every LOCK_AFTER-th failure in a row locks the account for LOCK_FOR. While
        locked (or disabled) the password is not checked against the stored hash at
        all; a dummy hash is verified instead, so the answer and its timing are the
        same as for a wrong password or an unknown name. Every outcome for a known
        operator is audited (never the password).
        """
        async with self._db.read() as session:
            operator = await session.scalar(select(Operator).where(Operator.username == username))
        now = utc_now()
        blocked: str | None = None
        if operator is not None and operator.disabled:
            blocked = "disabled"
        elif operator is not None and operator.locked_until and operator.locked_until > now:
            blocked = "locked"
        # argon2 costs ~50 ms of CPU by design: off the event loop that fans out alarms.
        stored_hash = operator.password_hash if operator is not None and not blocked else None
        verified = await asyncio.to_thread(verify_password, stored_hash, password)
        if operator is None:
            log.info("login_failed", reason="unknown_user", client=client)
            return None
        async with self._db.write() as session:
            row = await session.get(Operator, operator.id)
            if row is None:
                return None
            audit = await AuditTrail.open(session)
            actor = f"operator:{row.username}"
            if blocked:
                audit.append(actor, f"login_refused_{blocked}", client=client)
                log.info("login_failed", reason=blocked, operator=row.username, client=client)
                return None
            if not verified:
                row.failed_logins += 1
                locked = row.failed_logins % LOCK_AFTER == 0
                if locked:
                    row.locked_until = now + LOCK_FOR
                audit.append(
                    actor,
                    "login_locked" if locked else "login_failed",
                    client=client,
                    failed_logins=row.failed_logins,
                )
                log.info("login_failed", reason="password", operator=row.username, client=client)
                return None
            row.failed_logins = 0
            row.locked_until = None
            audit.append(actor, "login_succeeded", client=client)
            return _operator_view(row, await _operator_sites(session, row.id))

    async def log_out(self, operator: OperatorView) -> None:
        """Ends every session of the operator, not only the browser's that asked."""
        async with self._db.write() as session:
            await end_operator_sessions(session, operator.id)
            (await AuditTrail.open(session)).append(f"operator:{operator.username}", "logout")

    async def operator(self, operator_id: int) -> OperatorView | None:
        """An operator allowed to act; a disabled one counts as gone (its sessions end)."""
        async with self._db.read() as session:
            operator = await session.get(Operator, operator_id)
            if operator is None or operator.disabled:
                return None
            return _operator_view(operator, await _operator_sites(session, operator.id))

    # --- enrolment ------------------------------------------------------------

    async def create_enrolment_codes(
        self,
        site_id: int,
        room_id: int | None,
        hours: float,
        actor: str,
        count: int = 1,
    ) -> list[IssuedCode]:
        """One-time codes; the plain codes are returned once and only their hashes kept."""
        if not 0 < hours <= MAX_CODE_HOURS:
            raise DirectoryError(f"hours must be more than 0 and at most {MAX_CODE_HOURS}")
        if not 1 <= count <= 1000:
            raise DirectoryError("count must be between 1 and 1000")
        now = utc_now()
        expires = now + timedelta(hours=hours)
        issued: list[IssuedCode] = []
        async with self._db.write() as session:
            if await session.get(Site, site_id) is None:
                raise NotFound(f"no site {site_id}")
            if room_id is not None:
                room = await session.get(Room, room_id)
                if room is None or room.site_id != site_id:
                    raise DirectoryError(f"no room {room_id} at site {site_id}")
            audit = await AuditTrail.open(session)
            for _ in range(count):
                code = new_enrolment_code()
                row = EnrolmentCode(
                    code_hash=hash_code(code),
                    site_id=site_id,
                    room_id=room_id,
                    created_by=actor,
                    created_at=now,
                    expires_at=expires,
                )
                session.add(row)
                await session.flush()
                audit.append(
                    actor,
                    "enrolment_code_created",
                    room_id=room_id,
                    code_id=row.id,
                    site_id=site_id,
                    expires_at=expires.isoformat(),
                )
                issued.append(IssuedCode(row.id, code, site_id, room_id, expires))
        return issued

    async def enrol(
        self, code: str, hostname: str, agent_version: str, client: str | None = None
    ) -> Enrolled:
        """Trades a valid one-time code for a new workstation and its device secret.

        Everything happens in one write transaction; the code is marked used with a
        conditional UPDATE, so two hub instances racing for one code cannot both win.
        """
        now = utc_now()
        secret = new_device_token()
        async with self._db.write() as session:
            row = await session.scalar(
                select(EnrolmentCode).where(EnrolmentCode.code_hash == hash_code(code))
            )
            if row is None:
                raise EnrolmentRefused("unknown enrolment code")
            if row.used_at is not None:
                raise EnrolmentRefused("enrolment code already used")
            if row.expires_at <= now:
                raise EnrolmentRefused("enrolment code expired")
            workstation_id = await _free_workstation_id(session, hostname)
            claimed = await session.execute(
                update(EnrolmentCode)
                .where(EnrolmentCode.id == row.id, EnrolmentCode.used_at.is_(None))
                .values(used_at=now, workstation_id=workstation_id)
                .execution_options(synchronize_session=False)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                raise EnrolmentRefused("enrolment code already used")
            state = ACTIVE if row.room_id is not None else PENDING
            session.add(
                Workstation(
                    id=workstation_id,
                    site_id=row.site_id,
                    room_id=row.room_id,
                    role=WorkstationRole.STAFF.value,
                    state=state,
                    hostname=hostname,
                    display_name="",
                    token_hash=hash_token(secret),
                    agent_version=agent_version,
                    created_at=now,
                )
            )
            (await AuditTrail.open(session)).append(
                f"enrolment:{row.id}",
                "workstation_enrolled",
                workstation_id=workstation_id,
                room_id=row.room_id,
                hostname=hostname,
                agent_version=agent_version,
                state=state,
                code_id=row.id,
                client=client,
            )
        log.info("workstation_enrolled", workstation=workstation_id, state=state, client=client)
        return Enrolled(workstation_id, secret, state, row.site_id, row.room_id)

    # --- workstations -----------------------------------------------------------

    async def revoke_workstation(self, workstation_id: str, actor: str) -> bool:
        """Revokes the device secret; False if it was revoked already (nothing written)."""
        async with self._db.write() as session:
            ws = await session.get(Workstation, workstation_id)
            if ws is None:
                raise NotFound(f"no workstation {workstation_id}")
            if ws.state == REVOKED:
                return False
            previous = ws.state
            ws.state, ws.revoked_at = REVOKED, utc_now()
            (await AuditTrail.open(session)).append(
                actor,
                "workstation_revoked",
                workstation_id=ws.id,
                room_id=ws.room_id,
                previous_state=previous,
            )
        log.info("workstation_revoked", workstation=workstation_id, actor=actor)
        return True

    async def revoked_since(self, since: datetime) -> set[str]:
        """Workstations revoked after ``since`` (e.g. by the CLI, outside this hub process)."""
        async with self._db.read() as session:
            return set(
                await session.scalars(
                    select(Workstation.id).where(
                        Workstation.state == REVOKED, Workstation.revoked_at > since
                    )
                )
            )

    async def update_workstation(
        self,
        workstation_id: str,
        actor: str,
        *,
        room_id: int | Literal["keep"] | None = "keep",
        role: WorkstationRole | None = None,
        display_name: str | None = None,
    ) -> None:
        """Assigns a room (pending becomes active; no room makes it pending), role or name."""
        async with self._db.write() as session:
            ws = await session.get(Workstation, workstation_id)
            if ws is None:
                raise NotFound(f"no workstation {workstation_id}")
            changes = await apply_workstation_change(session, ws, room_id, role, display_name)
            if changes:
                (await AuditTrail.open(session)).append(
                    actor,
                    "workstation_changed",
                    workstation_id=ws.id,
                    room_id=ws.room_id,
                    changes=changes,
                )


@dataclass(frozen=True, slots=True)
class IssuedCode:
    id: int
    code: str  # shown once, never stored
    site_id: int
    room_id: int | None
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Enrolled:
    workstation_id: str
    secret: str  # shown once to the agent, only its hash is stored
    state: str
    site_id: int
    room_id: int | None


_CODE_ALPHABET_JUNK = re.compile(r"[\s-]+")


def new_enrolment_code() -> str:
    """120 random bits as ``XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`` (base32: no 0/1/8/9 confusion)."""
    raw = base64.b32encode(secrets.token_bytes(_CODE_BYTES)).decode("ascii")
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def normalise_code(code: str) -> str:
    """Case, spaces and dashes do not matter when a code is typed."""
    return _CODE_ALPHABET_JUNK.sub("", code).upper()


def hash_code(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode("utf-8")).hexdigest()


_ID_JUNK = re.compile(r"[^a-z0-9._-]+")


def workstation_id_for(hostname: str) -> str:
    """A stable id from a hostname: lower case, the short name, safe characters only."""
    short = hostname.strip().split(".")[0].lower()
    return _ID_JUNK.sub("-", short).strip("-")[:100] or "pc"


async def _free_workstation_id(session: AsyncSession, hostname: str) -> str:
    base = workstation_id_for(hostname)
    taken = set(
        await session.scalars(
            select(Workstation.id).where(
                (Workstation.id == base) | Workstation.id.like(f"{base}-%")
            )
        )
    )
    if base not in taken:
        return base
    suffix = 2
    while f"{base}-{suffix}" in taken:
        suffix += 1
    return f"{base}-{suffix}"


async def apply_workstation_change(
    session: AsyncSession,
    ws: Workstation,
    room_id: int | Literal["keep"] | None,
    role: WorkstationRole | None,
    display_name: str | None,
) -> dict[str, list[object]]:
    """Changes one workstation inside the caller's transaction; returns {field: [old, new]}."""
    if ws.state == REVOKED:
        raise Conflict(f"workstation {ws.id} is revoked; enrol the PC again")
    changes: dict[str, list[object]] = {}
    if room_id != "keep" and room_id != ws.room_id:
        if room_id is not None:
            room = await session.get(Room, room_id)
            if room is None:
                raise DirectoryError(f"no room {room_id}")
            if room.site_id != ws.site_id:
                changes["site_id"] = [ws.site_id, room.site_id]
                ws.site_id = room.site_id
        changes["room_id"] = [ws.room_id, room_id]
        ws.room_id = room_id
    new_state = PENDING if ws.room_id is None else ACTIVE
    if new_state != ws.state:
        changes["state"] = [ws.state, new_state]
        ws.state = new_state
    if role is not None and role.value != ws.role:
        changes["role"] = [ws.role, role.value]
        ws.role = role.value
    if display_name is not None and display_name != ws.display_name:
        changes["display_name"] = [ws.display_name, display_name]
        ws.display_name = display_name
    return changes


# --- neighbours -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EffectiveNeighbour:
    room_id: int
    source: Literal["link", "distance"]
    distance_m: float | None


async def effective_neighbours(session: AsyncSession, room_id: int) -> list[EffectiveNeighbour]:
    """The room's neighbours by dispatch.topology: admin links plus the site's radius rule."""
    room = await session.get(Room, room_id)
    if room is None:
        raise NotFound(f"no room {room_id}")
    site = await session.get(Site, room.site_id)
    radius = site.neighbour_radius_m if site is not None else 0.0
    words = (
        await session.execute(
            select(RoomNeighbour.neighbour_id, RoomNeighbour.kind).where(
                RoomNeighbour.room_id == room_id
            )
        )
    ).all()
    links = {n for n, kind in words if kind == LINK}
    excludes = {n for n, kind in words if kind == EXCLUDE}
    same_floor = list(await session.scalars(select(Room).where(Room.floor_id == room.floor_id)))
    placed = {r.id: topology.PlacedRoom(r.id, r.floor_id, r.x_m, r.y_m) for r in same_floor}
    found = topology.neighbours(
        topology.PlacedRoom(room.id, room.floor_id, room.x_m, room.y_m),
        placed.values(),
        links,
        excludes,
        radius,
    )
    result = []
    for other in sorted(found):
        spot = placed.get(other)
        distance: float | None = None
        if (
            spot is not None
            and room.x_m is not None
            and room.y_m is not None
            and spot.x_m is not None
            and spot.y_m is not None
        ):
            distance = math.dist((room.x_m, room.y_m), (spot.x_m, spot.y_m))
        result.append(EffectiveNeighbour(other, "link" if other in links else "distance", distance))
    return result


async def end_operator_sessions(session: AsyncSession, operator_id: int) -> None:
    """Every session cookie of the operator is refused from this commit on, everywhere
    (dispatch/sessions.py compares the cookie's epoch with this one on every request)."""
    await session.execute(
        update(Operator)
        .where(Operator.id == operator_id)
        .values(session_epoch=Operator.session_epoch + 1)
    )


def _operator_view(operator: Operator, sites: frozenset[int]) -> OperatorView:
    return OperatorView(
        id=operator.id,
        username=operator.username,
        display_name=operator.display_name,
        role=operator.role,
        sites=sites,
        session_epoch=operator.session_epoch,
    )


async def _operator_sites(session: AsyncSession, operator_id: int) -> frozenset[int]:
    rows = await session.scalars(
        select(OperatorSite.site_id).where(OperatorSite.operator_id == operator_id)
    )
    return frozenset(rows)
