"""Console operators: role, covered sites, password (argon2, never returned), lock state."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Request, Response
from pydantic import Field, StringConstraints

from dispatch.directory import operators
from dispatch.directory.operators import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    operator_in_scope,
    operators_in_scope,
    sites_of,
)
from dispatch.store.models import Operator
from dispatch.web.api.deps import DB, Admin, AdminReader, Reader, ScopeDep, actor, refusals
from dispatch.web.api.schemas import Id, Input, Name, Output, Patch, from_row
from shared.domain import OperatorRole
from shared.protocol import utc_now

router = APIRouter(tags=["operators"])

Username = Annotated[
    str,
    StringConstraints(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$"),
]
Password = Annotated[str, Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]


class OperatorIn(Input):
    username: Username
    display_name: Name
    role: OperatorRole
    password: Password = Field(description="At least 12 characters; stored as an argon2 hash")
    site_ids: list[Id] = Field(default_factory=list, description="Sites covered; empty: every site")


class OperatorPatch(Patch):
    not_null = frozenset({"display_name", "role", "password", "site_ids", "disabled", "unlock"})
    display_name: Name | None = None
    role: OperatorRole | None = None
    password: Password | None = None
    site_ids: list[Id] | None = None
    disabled: bool | None = None
    unlock: bool | None = Field(None, description="true: clear a brute-force lock now")


class OperatorOut(Output):
    id: int
    username: str
    display_name: str
    role: OperatorRole
    site_ids: list[int]
    disabled: bool
    source: Literal["local", "directory"] = Field(
        description="local: password here; directory: LDAP login, role and sites from its groups"
    )
    locked_until: datetime | None
    failed_logins: int
    created_at: datetime


class SessionOut(Output):
    operator_id: int
    username: str
    display_name: str
    role: OperatorRole
    csrf_token: str = Field(description="Send it as X-CSRF-Token on every state-changing call")


def _out(row: Operator, site_ids: list[int]) -> OperatorOut:
    locked = row.locked_until if row.locked_until and row.locked_until > utc_now() else None
    return from_row(OperatorOut, row, site_ids=site_ids, locked_until=locked)


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
        role=operator.role,
        csrf_token=token,
    )


@router.get("/operators", response_model=list[OperatorOut], summary="List operators")
async def list_operators(_: AdminReader, db: DB, scope: ScopeDep) -> list[OperatorOut]:
    """An admin limited to sites sees the operators limited to some of those sites."""
    async with db.read() as session:
        return [_out(row, sites) for row, sites in await operators_in_scope(session, scope)]


@router.post(
    "/operators", response_model=OperatorOut, status_code=201, summary="Create an operator"
)
async def create_operator(
    body: OperatorIn, operator: Admin, db: DB, scope: ScopeDep
) -> OperatorOut:
    with refusals():
        row, site_ids = await operators.create_operator(
            db, actor(operator), **body.model_dump(), scope=scope
        )
    return _out(row, site_ids)


@router.get("/operators/{operator_id}", response_model=OperatorOut, summary="One operator")
async def get_operator(operator_id: Id, _: AdminReader, db: DB, scope: ScopeDep) -> OperatorOut:
    with refusals():
        async with db.read() as session:
            row = await operator_in_scope(session, operator_id, scope)
            sites = await sites_of(session, [row.id])
    return _out(row, sites[row.id])


@router.patch("/operators/{operator_id}", response_model=OperatorOut, summary="Change an operator")
async def update_operator(
    operator_id: Id, body: OperatorPatch, operator: Admin, db: DB, scope: ScopeDep
) -> OperatorOut:
    with refusals():
        row, site_ids = await operators.update_operator(
            db, actor(operator), operator_id, body.changes(), scope=scope
        )
    return _out(row, site_ids)


@router.delete("/operators/{operator_id}", status_code=204, summary="Delete an operator")
async def delete_operator(operator_id: Id, operator: Admin, db: DB, scope: ScopeDep) -> Response:
    with refusals():
        await operators.delete_operator(
            db, actor(operator), operator_id, acting_id=operator.id, scope=scope
        )
    return Response(status_code=204)
