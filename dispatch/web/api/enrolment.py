"""Enrolment: admins issue one-time codes; an agent trades one for its per-device secret.

A code is shown once when created and stored only as SHA-256. ``POST /enrol``
needs no session (the code is the credential); failed attempts are counted
per client address and limited, so codes cannot be guessed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import Field
from sqlalchemy import select

from dispatch.directory import enrolment
from dispatch.directory.enrolment import MAX_CODE_HOURS, MAX_CODES
from dispatch.directory.refusals import EnrolmentRefused
from dispatch.store.models import EnrolmentCode
from dispatch.web.api.deps import (
    DB,
    Admin,
    AdminReader,
    ScopeDep,
    actor,
    client_ip,
    limiter,
    refusals,
)
from dispatch.web.api.schemas import Input, Output, from_row
from shared.domain import WorkstationState
from shared.protocol import utc_now

log = structlog.get_logger(__name__)

router = APIRouter(tags=["enrolment"])

ENROL_FAILURES_PER_MINUTE = 10


class CodeRequest(Input):
    site_id: int
    room_id: int | None = Field(
        None, description="Pre-assign a room: the PC enrols as active instead of pending"
    )
    hours: float = Field(24, gt=0, le=MAX_CODE_HOURS, description="Validity in hours")
    count: int = Field(1, ge=1, le=MAX_CODES, description="How many one-time codes to create")


class IssuedCodeOut(Output):
    id: int
    code: str = Field(description="Shown only in this response; the hub keeps a hash")
    site_id: int
    room_id: int | None
    expires_at: datetime


class IssuedCodes(Output):
    codes: list[IssuedCodeOut]


class CodeOut(Output):
    id: int
    site_id: int
    room_id: int | None
    created_by: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    workstation_id: str | None
    status: Literal["unused", "used", "expired"]


Hostname = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]


class EnrolRequest(Input):
    code: str = Field(min_length=1, max_length=64)
    hostname: Hostname
    agent_version: str = Field(min_length=1, max_length=64)


class EnrolAnswer(Output):
    workstation_id: str
    secret: str = Field(description="The per-device secret; store it in the agent config")
    state: Literal[WorkstationState.PENDING, WorkstationState.ACTIVE]


def _code_out(row: EnrolmentCode) -> CodeOut:
    status_ = "used" if row.used_at else "expired" if row.expires_at <= utc_now() else "unused"
    return from_row(CodeOut, row, status=status_)


@router.post(
    "/enrolment-codes",
    response_model=IssuedCodes,
    status_code=201,
    summary="Create one-time enrolment codes (shown once)",
)
async def create_codes(
    body: CodeRequest, operator: Admin, db: DB, response: Response, scope: ScopeDep
) -> IssuedCodes:
    response.headers["Cache-Control"] = "no-store"
    with refusals():
        issued = await enrolment.issue_codes(db, actor(operator), **body.model_dump(), scope=scope)
    return IssuedCodes(codes=[from_row(IssuedCodeOut, c) for c in issued])


@router.get(
    "/enrolment-codes", response_model=list[CodeOut], summary="List enrolment codes (no codes)"
)
async def list_codes(
    _: AdminReader, db: DB, scope: ScopeDep, site_id: Annotated[int | None, Query()] = None
) -> list[CodeOut]:
    query = (
        select(EnrolmentCode).where(scope.where(EnrolmentCode.site_id)).order_by(EnrolmentCode.id)
    )
    if site_id is not None:
        query = query.where(EnrolmentCode.site_id == site_id)
    async with db.read() as session:
        return [_code_out(row) for row in await session.scalars(query)]


@router.delete(
    "/enrolment-codes/{code_id}",
    response_model=CodeOut,
    summary="Withdraw an unused code (it expires now; the row stays for the record)",
)
async def withdraw_code(code_id: int, operator: Admin, db: DB, scope: ScopeDep) -> CodeOut:
    with refusals():
        return _code_out(await enrolment.withdraw_code(db, actor(operator), code_id, scope=scope))


@router.post(
    "/enrol",
    response_model=EnrolAnswer,
    status_code=201,
    summary="An agent trades a one-time code for its workstation id and device secret",
    responses={
        403: {"description": "Unknown, used or expired code; nothing was written"},
        429: {"description": "Too many failed enrolments from this address"},
    },
)
async def enrol(body: EnrolRequest, request: Request, response: Response, db: DB) -> EnrolAnswer:
    ip = client_ip(request)
    failures = limiter(request, "enrol", ENROL_FAILURES_PER_MINUTE, 60.0)
    if failures.blocked(ip):
        log.warning("enrol_rate_limited", client=ip)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many failed enrolments from this address; try again later",
            headers={"Retry-After": str(failures.retry_after(ip))},
        )
    try:
        enrolled = await enrolment.enrol(db, body.code, body.hostname, body.agent_version, ip)
    except EnrolmentRefused as refused:
        failures.fail(ip)
        log.info("enrol_refused", client=ip, reason=str(refused))
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"enrolment refused: {refused}") from None
    response.headers["Cache-Control"] = "no-store"
    return from_row(EnrolAnswer, enrolled)
