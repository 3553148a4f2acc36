"""The local rows of directory operators: made at their first sign-in, their rights kept in step.

A directory operator gets an operator row (``source = directory``) so sessions,
the audit trail and site scope work as for local ones; its password stays in
the directory (the row's hash never verifies). Role and sites come from the
groups (``directory_rights``) and are written here, at every login and by the
periodic check (``directory_watch``); a change of rights ends the sessions.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.directory.directory_rights import Rights
from dispatch.directory.operators import set_sites, sites_of
from dispatch.directory.sessions import end_operator_sessions
from dispatch.store.audit import AuditTrail
from dispatch.store.models import Operator, Site
from shared.domain import OperatorSource
from shared.protocol import utc_now

DIRECTORY = OperatorSource.DIRECTORY
ACTOR = "directory"
NO_LOCAL_HASH = "directory"
"""The password hash of a directory operator: not an argon2 hash, so it never verifies."""
MAX_NAME = 200


async def known_rights(session: AsyncSession, rights: Rights | None) -> Rights | None:
    """``rights`` with the sites that exist; None when it names sites and none exists (an
    empty list would mean every site)."""
    if rights is None or not rights.site_ids:
        return rights
    existing = set(await session.scalars(select(Site.id).where(Site.id.in_(rights.site_ids))))
    kept = tuple(site for site in rights.site_ids if site in existing)
    return Rights(rights.role, kept) if kept else None


async def provision(
    session: AsyncSession, login: str, display_name: str, rights: Rights, audit: AuditTrail
) -> Operator:
    """A new directory operator row with the groups' rights, audited."""
    row = Operator(
        username=login,
        display_name=display_name[:MAX_NAME],
        role=rights.role,
        password_hash=NO_LOCAL_HASH,
        created_at=utc_now(),
        failed_logins=0,
        disabled=False,
        source=DIRECTORY,
    )
    session.add(row)
    await session.flush()
    await set_sites(session, row.id, list(rights.site_ids))
    audit.append(
        ACTOR,
        "operator_created",
        operator_id=row.id,
        username=row.username,
        role=row.role,
        site_ids=list(rights.site_ids),
        source=DIRECTORY,
    )
    return row


async def apply_rights(
    session: AsyncSession, row: Operator, display_name: str, rights: Rights, audit: AuditTrail
) -> bool:
    """Gives ``row`` the groups' role, sites and the directory's name; a change of role or
    sites ends its sessions (True). Audited as an admin's change would be."""
    changed: dict[str, object] = {}
    if row.role != rights.role:
        changed["role"] = [row.role, rights.role.value]
        row.role = rights.role
    before = (await sites_of(session, [row.id]))[row.id]
    if before != list(rights.site_ids):
        changed["site_ids"] = [before, list(rights.site_ids)]
        await set_sites(session, row.id, list(rights.site_ids))
    name = display_name[:MAX_NAME]
    if name and row.display_name != name:
        changed["display_name"] = [row.display_name, name]
        row.display_name = name
    ends = bool(changed.keys() & {"role", "site_ids"})
    if changed:
        await session.flush()
        audit.append(
            ACTOR,
            "operator_changed",
            operator_id=row.id,
            username=row.username,
            changes=changed,
            source=DIRECTORY,
        )
    if ends:
        await end_operator_sessions(session, row.id)
        await session.refresh(row, ["session_epoch", "session_started_at"])
    return ends


async def end_live_sessions(session: AsyncSession, row: Operator, reason: str) -> bool:
    """Ends the operator's sessions if any may still live, audited once (another hub
    instance's check may have been first: then nothing is written)."""
    ended = await session.execute(
        update(Operator)
        .where(Operator.id == row.id, Operator.session_started_at.is_not(None))
        .values(session_epoch=Operator.session_epoch + 1, session_started_at=None)
    )
    if getattr(ended, "rowcount", 0) != 1:
        return False
    (await AuditTrail.open(session)).append(
        ACTOR,
        "directory_sessions_ended",
        operator_id=row.id,
        username=row.username,
        reason=reason,
    )
    return True
