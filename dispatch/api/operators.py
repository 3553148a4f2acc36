"""Console operators: role, covered sites, password (argon2, never returned), lock state."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import Field, StringConstraints
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.api.deps import (
    DB,
    Admin,
    AdminReader,
    Reader,
    Role,
    actor,
    conflict,
    get_or_404,
    unprocessable,
)
from dispatch.api.schemas import Input, Name, Output, Patch
from dispatch.audit import AuditTrail
from dispatch.auth import hash_password
from dispatch.directory import end_operator_sessions
from dispatch.models import Operator, OperatorSite, Site
from shared.protocol import utc_now

router = APIRouter(tags=["operators"])

SESSION_ENDING = frozenset({"role", "site_ids", "password_set", "disabled"})
"""Changes after which the operator's open sessions end: rights and credentials."""

Username = Annotated[
    str,
    StringConstraints(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$"),
]
Password = Annotated[str, Field(min_length=12, max_length=1000)]


class OperatorIn(Input):
    username: Username
    display_name: Name
    role: Role
    password: Password = Field(description="At least 12 characters; stored as an argon2 hash")
    site_ids: list[int] = Field(
        default_factory=list, description="Sites covered; empty: every site"
    )


class OperatorPatch(Patch):
    not_null = frozenset({"display_name", "role", "password", "site_ids", "disabled", "unlock"})
    display_name: Name | None = None
    role: Role | None = None
    password: Password | None = None
    site_ids: list[int] | None = None
    disabled: bool | None = None
    unlock: bool | None = Field(None, description="true: clear a brute-force lock now")


class OperatorOut(Output):
    id: int
    username: str
    display_name: str
    role: Role
    site_ids: list[int]
    disabled: bool
    locked_until: datetime | None
    failed_logins: int
    created_at: datetime


class SessionOut(Output):
    operator_id: int
    username: str
    display_name: str
    role: Role
    csrf_token: str = Field(description="Send it as X-CSRF-Token on every state-changing call")


async def _sites_of(session: AsyncSession, operator_ids: list[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {i: [] for i in operator_ids}
    rows = await session.execute(
        select(OperatorSite.operator_id, OperatorSite.site_id)
        .where(OperatorSite.operator_id.in_(operator_ids))
        .order_by(OperatorSite.site_id)
    )
    for operator_id, site_id in rows:
        found[operator_id].append(site_id)
    return found


def _out(row: Operator, site_ids: list[int]) -> OperatorOut:
    now = utc_now()
    return OperatorOut(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=Role(row.role),
        site_ids=site_ids,
        disabled=row.disabled,
        locked_until=row.locked_until if row.locked_until and row.locked_until > now else None,
        failed_logins=row.failed_logins,
        created_at=row.created_at,
    )


async def _check_sites(session: AsyncSession, site_ids: list[int]) -> list[int]:
    wanted = sorted(set(site_ids))
    if wanted:
        known = set(await session.scalars(select(Site.id).where(Site.id.in_(wanted))))
        unknown = [i for i in wanted if i not in known]
        if unknown:
            raise unprocessable(f"unknown site ids: {', '.join(map(str, unknown))}")
    return wanted


async def _set_sites(session: AsyncSession, operator_id: int, site_ids: list[int]) -> None:
    await session.execute(delete(OperatorSite).where(OperatorSite.operator_id == operator_id))
    for site_id in site_ids:
        session.add(OperatorSite(operator_id=operator_id, site_id=site_id))


async def _admins_left(session: AsyncSession, without: int) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Operator)
        .where(Operator.role == Role.ADMIN.value, Operator.disabled.is_(False))
        .where(Operator.id != without)
    )
    return int(count or 0)


@router.get("/session", response_model=SessionOut, summary="Who is logged in, and the CSRF token")
async def whoami(operator: Reader, request: Request, response: Response) -> SessionOut:
    token = request.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    response.headers["Cache-Control"] = "no-store"
    return SessionOut(
        operator_id=operator.id,
        username=operator.username,
        display_name=operator.display_name,
        role=Role(operator.role),
        csrf_token=token,
    )


@router.get("/operators", response_model=list[OperatorOut], summary="List operators")
async def list_operators(_: AdminReader, db: DB) -> list[OperatorOut]:
    async with db.read() as session:
        rows = list(await session.scalars(select(Operator).order_by(Operator.username)))
        sites = await _sites_of(session, [r.id for r in rows])
    return [_out(r, sites[r.id]) for r in rows]


@router.post(
    "/operators", response_model=OperatorOut, status_code=201, summary="Create an operator"
)
async def create_operator(body: OperatorIn, operator: Admin, db: DB) -> OperatorOut:
    password_hash = await asyncio.to_thread(hash_password, body.password)
    async with db.write() as session:
        if await session.scalar(select(Operator.id).where(Operator.username == body.username)):
            raise conflict(f"operator {body.username} exists already")
        site_ids = await _check_sites(session, body.site_ids)
        row = Operator(
            username=body.username,
            display_name=body.display_name,
            role=body.role.value,
            password_hash=password_hash,
            created_at=utc_now(),
            failed_logins=0,
            disabled=False,
        )
        session.add(row)
        await session.flush()
        await _set_sites(session, row.id, site_ids)
        (await AuditTrail.open(session)).append(
            actor(operator),
            "operator_created",
            operator_id=row.id,
            username=row.username,
            role=row.role,
            site_ids=site_ids,
        )
        return _out(row, site_ids)


@router.get("/operators/{operator_id}", response_model=OperatorOut, summary="One operator")
async def get_operator(operator_id: int, _: AdminReader, db: DB) -> OperatorOut:
    async with db.read() as session:
        row = await get_or_404(session, Operator, operator_id, "operator")
        sites = await _sites_of(session, [row.id])
    return _out(row, sites[row.id])


@router.patch("/operators/{operator_id}", response_model=OperatorOut, summary="Change an operator")
async def update_operator(
    operator_id: int, body: OperatorPatch, operator: Admin, db: DB
) -> OperatorOut:
    values = body.changes()
    password_hash = (
        await asyncio.to_thread(hash_password, values["password"]) if "password" in values else None
    )
    async with db.write() as session:
        row = await get_or_404(session, Operator, operator_id, "operator")
        changed: dict[str, object] = {}
        demoted = "role" in values and values["role"] != Role.ADMIN and row.role == Role.ADMIN
        disabling = values.get("disabled") is True and not row.disabled
        if (
            (demoted or disabling)
            and row.role == Role.ADMIN
            and await _admins_left(session, row.id) == 0
        ):
            raise conflict("the last active admin cannot be demoted or disabled")
        if "display_name" in values and values["display_name"] != row.display_name:
            changed["display_name"] = [row.display_name, values["display_name"]]
            row.display_name = values["display_name"]
        if "role" in values and values["role"] != row.role:
            changed["role"] = [row.role, values["role"].value]
            row.role = values["role"].value
        if "disabled" in values and values["disabled"] != row.disabled:
            changed["disabled"] = [row.disabled, values["disabled"]]
            row.disabled = values["disabled"]
        if password_hash is not None:
            changed["password_set"] = True  # never the password or its hash
            row.password_hash = password_hash
            row.failed_logins, row.locked_until = 0, None
        if values.get("unlock"):
            changed["unlocked"] = True
            row.failed_logins, row.locked_until = 0, None
        if "site_ids" in values:
            site_ids = await _check_sites(session, values["site_ids"])
            before = (await _sites_of(session, [row.id]))[row.id]
            if before != site_ids:
                changed["site_ids"] = [before, site_ids]
                await _set_sites(session, row.id, site_ids)
        if changed.keys() & SESSION_ENDING:
            await end_operator_sessions(session, row.id)  # new rights only with a new login
        if changed:
            (await AuditTrail.open(session)).append(
                actor(operator),
                "operator_changed",
                operator_id=row.id,
                username=row.username,
                changes=changed,
            )
        await session.flush()
        sites = await _sites_of(session, [row.id])
        return _out(row, sites[row.id])


@router.delete("/operators/{operator_id}", status_code=204, summary="Delete an operator")
async def delete_operator(operator_id: int, operator: Admin, db: DB) -> Response:
    async with db.write() as session:
        row = await get_or_404(session, Operator, operator_id, "operator")
        if row.id == operator.id:
            raise conflict("you cannot delete your own account")
        if row.role == Role.ADMIN and await _admins_left(session, row.id) == 0:
            raise conflict("the last active admin cannot be deleted")
        await session.execute(delete(OperatorSite).where(OperatorSite.operator_id == row.id))
        await session.delete(row)
        (await AuditTrail.open(session)).append(
            actor(operator), "operator_deleted", operator_id=row.id, username=row.username
        )
    return Response(status_code=204)
