"""Operator writes: create, change (role, sites, password, lock, disable) and delete logins.

An admin limited to sites manages only operators limited to some of those sites:
an operator covering every site, or another site too, is not found for them, and
the sites they give must be their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.directory.credentials import hash_password
from dispatch.directory.refusals import Conflict, Invalid, NotFound
from dispatch.directory.sessions import end_operator_sessions
from dispatch.directory.site_scope import SiteScope
from dispatch.store.audit import AuditTrail
from dispatch.store.database import Database
from dispatch.store.models import Operator, OperatorSite, PushSubscription, Site
from shared.domain import OperatorRole, OperatorSource
from shared.protocol import utc_now

MIN_PASSWORD = 12
MAX_PASSWORD = 1000

SESSION_ENDING = frozenset({"role", "site_ids", "password_set", "disabled"})
"""Changes after which the operator's open sessions end: rights and credentials."""


async def create_operator(
    db: Database,
    actor: str,
    username: str,
    password: str,
    role: OperatorRole,
    display_name: str,
    site_ids: Iterable[int] = (),
    *,
    scope: SiteScope,
) -> tuple[Operator, list[int]]:
    """A new login and the sites it covers (none: every site); the password is kept as argon2."""
    password_hash = await _hash(password)
    async with db.write() as session:
        sites = await _known_sites(session, site_ids, scope)
        if await session.scalar(select(Operator.id).where(Operator.username == username)):
            raise Conflict(f"operator {username} exists already")
        row = Operator(
            username=username,
            display_name=display_name,
            role=role,
            password_hash=password_hash,
            created_at=utc_now(),
            failed_logins=0,
            disabled=False,
        )
        session.add(row)
        await session.flush()
        await set_sites(session, row.id, sites)
        (await AuditTrail.open(session)).append(
            actor,
            "operator_created",
            operator_id=row.id,
            username=row.username,
            role=row.role,
            site_ids=sites,
        )
        return row, sites


async def update_operator(
    db: Database, actor: str, operator_id: int, values: Mapping[str, Any], *, scope: SiteScope
) -> tuple[Operator, list[int]]:
    """Changes what ``values`` names (display_name, role, password, site_ids, disabled, unlock).

    The last active admin stays one; changed rights or credentials end the
    operator's sessions, so they only apply with a new login.
    """
    password_hash = await _hash(values["password"]) if "password" in values else None
    async with db.write() as session:
        row = await operator_in_scope(session, operator_id, scope)
        if row.source == OperatorSource.DIRECTORY:
            await _refuse_directory_managed(session, row, values)
        changed: dict[str, object] = {}
        demoted = (
            "role" in values
            and values["role"] != OperatorRole.ADMIN
            and row.role == OperatorRole.ADMIN
        )
        disabling = values.get("disabled") is True and not row.disabled
        if (demoted or disabling) and await _last_admin(session, row):
            raise Conflict("the last active admin cannot be demoted or disabled")
        for key in ("display_name", "role", "disabled"):
            if key in values and values[key] != getattr(row, key):
                changed[key] = [getattr(row, key), values[key]]
                setattr(row, key, values[key])
        if password_hash is not None:
            changed["password_set"] = True  # never the password or its hash
            row.password_hash = password_hash
            row.failed_logins, row.locked_until = 0, None
        if values.get("unlock"):
            changed["unlocked"] = True
            row.failed_logins, row.locked_until = 0, None
        if "site_ids" in values:
            sites = await _known_sites(session, values["site_ids"], scope)
            before = (await sites_of(session, [row.id]))[row.id]
            if before != sites:
                changed["site_ids"] = [before, sites]
                await set_sites(session, row.id, sites)
        if changed.keys() & SESSION_ENDING:
            await end_operator_sessions(session, row.id)  # new rights only with a new login
        if changed:
            (await AuditTrail.open(session)).append(
                actor,
                "operator_changed",
                operator_id=row.id,
                username=row.username,
                changes=changed,
            )
        await session.flush()
        return row, (await sites_of(session, [row.id]))[row.id]


async def delete_operator(
    db: Database, actor: str, operator_id: int, *, acting_id: int, scope: SiteScope
) -> None:
    """Deletes a login; never the acting operator's own, never the last active admin."""
    async with db.write() as session:
        row = await operator_in_scope(session, operator_id, scope)
        if row.id == acting_id:
            raise Conflict("you cannot delete your own account")
        if await _last_admin(session, row):
            raise Conflict("the last active admin cannot be deleted")
        await session.execute(delete(OperatorSite).where(OperatorSite.operator_id == row.id))
        # Their phones get no more alarms (issue 20, dispatch/channels/push_subscriptions.py).
        await session.execute(
            delete(PushSubscription).where(PushSubscription.operator_id == row.id)
        )
        await session.delete(row)
        (await AuditTrail.open(session)).append(
            actor, "operator_deleted", operator_id=row.id, username=row.username
        )


async def _refuse_directory_managed(
    session: AsyncSession, row: Operator, values: Mapping[str, Any]
) -> None:
    """A directory operator's password, role, sites and name are the directory's: a change
    here would be overwritten at the next login or check (disabling and unlocking stay)."""
    managed = "password" in values or any(
        key in values and values[key] != getattr(row, key) for key in ("role", "display_name")
    )
    if "site_ids" in values:
        managed |= sorted(set(values["site_ids"])) != (await sites_of(session, [row.id]))[row.id]
    if managed:
        raise Conflict(
            f"operator {row.username} comes from the directory: change the password, name, "
            "role and sites there (its entry and groups)"
        )


async def sites_of(session: AsyncSession, operator_ids: list[int]) -> dict[int, list[int]]:
    """The sites each operator covers, in id order (empty: every site)."""
    found: dict[int, list[int]] = {i: [] for i in operator_ids}
    rows = await session.execute(
        select(OperatorSite.operator_id, OperatorSite.site_id)
        .where(OperatorSite.operator_id.in_(operator_ids))
        .order_by(OperatorSite.site_id)
    )
    for operator_id, site_id in rows:
        found[operator_id].append(site_id)
    return found


async def operators_in_scope(
    session: AsyncSession, scope: SiteScope
) -> list[tuple[Operator, list[int]]]:
    """The operators ``scope`` may see and manage, by username, each with their sites."""
    rows = list(await session.scalars(select(Operator).order_by(Operator.username)))
    sites = await sites_of(session, [r.id for r in rows])
    return [(r, sites[r.id]) for r in rows if scope.covers_all(sites[r.id])]


async def operator_in_scope(session: AsyncSession, operator_id: int, scope: SiteScope) -> Operator:
    """The operator, or NotFound: also one covering a site (or every site) out of ``scope``."""
    row = await session.get(Operator, operator_id)
    if row is None or not scope.covers_all((await sites_of(session, [row.id]))[row.id]):
        raise NotFound(f"no operator {operator_id}")
    return row


async def _hash(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"password must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise Invalid(f"password must be at most {MAX_PASSWORD} characters")
    # argon2 costs ~50 ms of CPU by design: off the event loop that fans out alarms.
    return await asyncio.to_thread(hash_password, password)


async def _known_sites(
    session: AsyncSession, site_ids: Iterable[int], scope: SiteScope
) -> list[int]:
    """The sites, checked: a site out of ``scope`` is as unknown as a missing one, and an
    admin limited to sites cannot give every site (an empty list)."""
    wanted = sorted(set(site_ids))
    if wanted:
        known = set(
            await session.scalars(select(Site.id).where(Site.id.in_(wanted), scope.where(Site.id)))
        )
        unknown = [i for i in wanted if i not in known]
        if unknown:
            raise Invalid(f"unknown site ids: {', '.join(map(str, unknown))}")
    elif not scope.unlimited:
        raise Invalid("site_ids must name some of your own sites (empty means every site)")
    return wanted


async def set_sites(session: AsyncSession, operator_id: int, site_ids: list[int]) -> None:
    await session.execute(delete(OperatorSite).where(OperatorSite.operator_id == operator_id))
    for site_id in site_ids:
        session.add(OperatorSite(operator_id=operator_id, site_id=site_id))


async def _last_admin(session: AsyncSession, row: Operator) -> bool:
    """Whether ``row`` is an admin and no other active admin is left."""
    if row.role != OperatorRole.ADMIN:
        return False
    others = await session.scalar(
        select(func.count())
        .select_from(Operator)
        .where(Operator.role == OperatorRole.ADMIN, Operator.disabled.is_(False))
        .where(Operator.id != row.id)
    )
    return not others
