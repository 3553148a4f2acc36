"""PC → room from the directory over HTTP (dispatch/directory/directory_sync.py does the work)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import Field

from dispatch.directory.directory_sync import sync_rooms
from dispatch.directory.ldap_directory import DirectoryUnavailable, LdapDirectory
from dispatch.web.api.deps import DB, Admin, ScopeDep, actor
from dispatch.web.api.schemas import Output

router = APIRouter(tags=["workstations"])


class ComputerOut(Output):
    dn: str
    hostname: str


class SyncProblemOut(Output):
    dn: str = Field(description="The computer entry the problem is about")
    reason: str


class DirectorySyncOut(Output):
    dry_run: bool
    imported: bool
    rows: int = Field(description="Computer entries with a host name and a room")
    changed: list[dict[str, Any]] = Field(
        description="Per changed workstation: dn, workstation_id, hostname, {field: [old, new]}"
    )
    unchanged: int
    not_enrolled: list[ComputerOut]
    without_room: list[str] = Field(description="DNs of computers without the room attribute")


class DirectorySyncRefused(Output):
    detail: str
    errors: list[SyncProblemOut]


@router.post(
    "/workstations/directory-sync",
    response_model=DirectorySyncOut,
    summary="Assign rooms from the directory's computer objects (all or none)",
    responses={
        409: {"description": "No directory configured"},
        422: {"model": DirectorySyncRefused, "description": "Every problem with its entry"},
        503: {"description": "The directory cannot be used (down, untrusted, refused)"},
    },
)
async def directory_sync(
    request: Request,
    operator: Admin,
    db: DB,
    scope: ScopeDep,
    dry_run: Annotated[bool, Query(description="true: report what would change")] = False,
) -> Any:
    directory: LdapDirectory | None = request.app.state.directory
    if directory is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "no directory configured (SILENT_ALARM_LDAP_URL)"
        )
    try:
        synced = await sync_rooms(
            db, directory, dry_run=dry_run, actor=actor(operator), scope=scope
        )
    except DirectoryUnavailable as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"directory cannot be used: {error}"
        ) from None
    report = synced.report
    if report.errors:
        return JSONResponse(
            DirectorySyncRefused(
                detail=f"sync refused: {len(report.errors)} problem(s); nothing was changed",
                errors=[
                    SyncProblemOut(dn=synced.where(e.line), reason=e.reason) for e in report.errors
                ],
            ).model_dump(),
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    return DirectorySyncOut(
        dry_run=report.dry_run,
        imported=report.imported,
        rows=report.rows,
        changed=[
            {"dn": synced.where(change["line"]), **{k: v for k, v in change.items() if k != "line"}}
            for change in report.changed
        ],
        unchanged=report.unchanged,
        not_enrolled=[
            ComputerOut(dn=synced.where(row.line), hostname=row.hostname) for row in report.skipped
        ],
        without_room=[computer.dn for computer in synced.without_room],
    )
