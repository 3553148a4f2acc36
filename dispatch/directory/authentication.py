"""Who may connect or log in: workstation secrets, operator passwords, and who is still valid."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import structlog
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.directory.credentials import token_matches, verify_password
from dispatch.directory.directory_accounts import (
    DIRECTORY,
    apply_rights,
    known_rights,
    provision,
)
from dispatch.directory.directory_rights import Rights, rights_of
from dispatch.directory.identities import OperatorView, WorkstationView
from dispatch.directory.ldap_directory import DirectoryUnavailable, DirectoryUser, LdapDirectory
from dispatch.directory.session_clients import ClientRevoked, session_client_id
from dispatch.directory.sessions import end_operator_sessions
from dispatch.store.audit import AuditTrail
from dispatch.store.coalesce import HANDSHAKE_LINGER_S, Coalescer
from dispatch.store.database import Database, core_table
from dispatch.store.models import Building, Floor, Operator, OperatorSite, Room, Workstation
from shared.domain import OperatorRole, WorkstationRole, WorkstationState
from shared.protocol import RoomRef, utc_now

log = structlog.get_logger(__name__)

# Login brute-force limit per operator: every LOCK_AFTER-th failure in a row locks the account.
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=5)

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
    Workstation.id.in_(bindparam("ids", expanding=True)),
    Workstation.state != WorkstationState.REVOKED,
)
"""``_CREDENTIALS`` of the workstations in ``ids`` that are not revoked; built once."""

_WORKSTATIONS = core_table(Workstation)
_REVOKED_AMONG = select(Workstation.id).where(
    Workstation.id.in_(bindparam("ids", expanding=True)),
    Workstation.state == WorkstationState.REVOKED,
)
_SEEN = (
    update(_WORKSTATIONS)
    .where(_WORKSTATIONS.c.id == bindparam("ws"))
    .values(last_seen_at=bindparam("at"), agent_version=bindparam("version"))
)
"""One workstation's last contact, run for many at once (executemany): no ORM objects."""


class Authenticator:
    """Checks agents' secrets and operators' passwords, and tells the hub who is still valid.

    Every check reads the store (never a cache), so a revocation, a disabled
    account or an ended session acts at once, also when another process made it.
    """

    def __init__(
        self,
        db: Database,
        directory: LdapDirectory | None = None,
        *,
        crowded: Callable[[], bool] | None = None,
    ) -> None:
        """``crowded``: whether agents arrive faster than the hub lets them in (its
        handshake gate full), so the credential reads linger to be shared."""
        self._db = db
        self._directory = directory
        self._credentials = Coalescer(
            self._load_credentials,
            name="workstation-credentials",
            linger=HANDSHAKE_LINGER_S,
            linger_when=crowded,
        )

    # --- workstations -------------------------------------------------------

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

    async def session_client(self, host: WorkstationView, client_name: str) -> WorkstationView:
        """Who a remote session on ``host`` speaks for: its client device (issue 19).

        Refusals as in ``dispatch.directory.session_clients``; the view names the host.
        """
        client_id = await session_client_id(self._db, host, client_name)
        found = await self._credentials.get(client_id)
        if found is None:  # revoked between the two reads
            raise ClientRevoked(f"client {client_id} is revoked")
        return replace(found[1], session_host=host.id)

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

    async def revoked_since(self, since: datetime) -> set[str]:
        """Workstations revoked after ``since`` (e.g. by the CLI, outside this hub process)."""
        async with self._db.read() as session:
            return set(
                await session.scalars(
                    select(Workstation.id).where(
                        Workstation.state == WorkstationState.REVOKED,
                        Workstation.revoked_at > since,
                    )
                )
            )

    # --- operators ----------------------------------------------------------

    async def authenticate_operator(
        self, username: str, password: str, *, client: str | None = None
    ) -> OperatorView | None:
        """The operator if the password is right and the account neither locked nor disabled.

        Every LOCK_AFTER-th failure in a row locks the account for LOCK_FOR. While
        locked (or disabled) the password is not checked against the stored hash at
        all; a dummy hash is verified instead, so the answer and its timing are the
        same as for a wrong password or an unknown name. Every outcome for a known
        operator is audited (never the password).

        A local account of that name wins; any other name is asked of the directory,
        when there is one (``_directory_login``), which raises ``DirectoryUnavailable``
        when it cannot answer.
        """
        async with self._db.read() as session:
            operator = await session.scalar(select(Operator).where(Operator.username == username))
        if self._directory is not None and (operator is None or operator.source == DIRECTORY):
            return await self._directory_login(self._directory, username, password, client)
        now = utc_now()
        blocked: str | None = None
        if operator is not None and operator.source == DIRECTORY:
            blocked = "directory_off"  # its password is the directory's, which is not set up
        elif operator is not None and operator.disabled:
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
                _count_failed_login(row, audit, actor, client, now)
                return None
            row.failed_logins = 0
            row.locked_until = None
            row.session_started_at = now
            audit.append(actor, "login_succeeded", client=client)
            return _operator_view(row, await _operator_sites(session, row.id))

    async def _directory_login(
        self, directory: LdapDirectory, username: str, password: str, client: str | None
    ) -> OperatorView | None:
        """A login checked by the directory: the user found by the service account, their
        groups mapped to rights, the password checked by a bind as them.

        The row is made at the first attempt of a user the directory finds and maps, so
        the brute-force lock counts from the first wrong password; a locked or disabled
        row is refused before the directory is asked. A disabled account, or one no
        mapped group covers, is refused as a wrong password is (audited with the reason).
        """
        async with self._db.read() as session:
            known = await session.scalar(select(Operator).where(Operator.username == username))
        now = utc_now()
        if known is not None and (known.disabled or (known.locked_until or now) > now):
            await self._refuse_blocked(known.id, client)
            return None
        try:
            user = await asyncio.to_thread(directory.find_user, username)
            wanted = (
                None
                if user is None or user.disabled
                else rights_of(user.groups, directory.group_roles, directory.group_sites)
            )
            verified = (
                user is not None
                and wanted is not None
                and await asyncio.to_thread(directory.password_matches, user, password)
            )
        except DirectoryUnavailable as error:
            log.error("directory_unreachable", during="login", reason=str(error), client=client)
            raise
        if user is None:
            log.info("login_failed", reason="unknown_user", client=client)
            return None
        return await self._record_directory_login(user, wanted, verified, now, client)

    async def _refuse_blocked(self, operator_id: int, client: str | None) -> None:
        async with self._db.write() as session:
            row = await session.get(Operator, operator_id)
            if row is None:
                return
            blocked = "disabled" if row.disabled else "locked"
            (await AuditTrail.open(session)).append(
                f"operator:{row.username}", f"login_refused_{blocked}", client=client
            )
            log.info("login_failed", reason=blocked, operator=row.username, client=client)

    async def _record_directory_login(
        self,
        user: DirectoryUser,
        wanted: Rights | None,
        verified: bool,
        now: datetime,
        client: str | None,
    ) -> OperatorView | None:
        async with self._db.write() as session:
            rights = await known_rights(session, wanted)
            audit = await AuditTrail.open(session)
            actor = f"operator:{user.login}"
            row = await session.scalar(select(Operator).where(Operator.username == user.login))
            if row is not None and row.source != DIRECTORY:
                # The directory's spelling of the name is a local account's: the local one wins.
                audit.append(actor, "login_refused_local_account", client=client)
                log.info("login_failed", reason="local_account", operator=row.username)
                return None
            if row is None:
                if rights is None:
                    log.info("login_failed", reason="not_mapped", client=client)
                    return None
                row = await provision(session, user.login, user.display_name, rights, audit)
            if row.disabled or (row.locked_until or now) > now:
                blocked = "disabled" if row.disabled else "locked"
                audit.append(actor, f"login_refused_{blocked}", client=client)
                return None
            if user.disabled or rights is None:
                reason = "directory_disabled" if user.disabled else "directory_not_mapped"
                audit.append(actor, f"login_refused_{reason}", client=client)
                log.info("login_failed", reason=reason, operator=row.username, client=client)
                return None
            if not verified:
                _count_failed_login(row, audit, actor, client, now)
                return None
            await apply_rights(session, row, user.display_name, rights, audit)
            row.failed_logins = 0
            row.locked_until = None
            row.session_started_at = now
            audit.append(actor, "login_succeeded", client=client, source=DIRECTORY)
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


def _operator_view(operator: Operator, sites: frozenset[int]) -> OperatorView:
    return OperatorView(
        id=operator.id,
        username=operator.username,
        display_name=operator.display_name,
        role=OperatorRole(operator.role),
        sites=sites,
        session_epoch=operator.session_epoch,
    )


async def _operator_sites(session: AsyncSession, operator_id: int) -> frozenset[int]:
    rows = await session.scalars(
        select(OperatorSite.site_id).where(OperatorSite.operator_id == operator_id)
    )
    return frozenset(rows)


def _count_failed_login(
    row: Operator, audit: AuditTrail, actor: str, client: str | None, now: datetime
) -> None:
    """A wrong password, local or the directory's: every LOCK_AFTER-th locks the account
    for LOCK_FOR, so both kinds of login share one brute-force limit."""
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
