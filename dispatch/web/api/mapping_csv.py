"""The workstation-to-room mapping as CSV over HTTP (directory/room_mapping.py does the work)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from dispatch.directory.room_mapping import MAX_BYTES, export_mapping, import_mapping
from dispatch.web.api.deps import DB, Admin, Reader, ScopeDep, actor
from dispatch.web.api.schemas import Output, from_row

router = APIRouter(tags=["workstations"])


class RowErrorOut(Output):
    line: int = Field(description="1 is the header line")
    reason: str


class ImportOut(Output):
    dry_run: bool
    imported: bool
    rows: int
    changed: list[dict[str, Any]] = Field(
        description="Per changed workstation: line, workstation_id, hostname, {field: [old, new]}"
    )
    created: list[dict[str, Any]] = Field(
        description="Per thin client the import creates (a row of kind client naming no "
        "workstation, issue 19): line, workstation_id, site_id, room_number, role"
    )
    unchanged: int


class ImportRefused(Output):
    detail: str
    errors: list[RowErrorOut]


@router.get(
    "/workstations.csv",
    response_class=Response,
    summary="The workstation-to-room mapping as CSV",
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_csv(_: Reader, db: DB, scope: ScopeDep) -> Response:
    """The workstations of the operator's sites."""
    return Response(
        await export_mapping(db, scope),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="workstations.csv"',
            "Cache-Control": "no-store",
        },
    )


@router.post(
    "/workstations/import",
    response_model=ImportOut,
    summary="Assign rooms and roles from a CSV file, thin clients created (all rows or none)",
    responses={422: {"model": ImportRefused, "description": "Every bad row with its line"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
            },
        }
    },
)
async def import_csv(
    request: Request,
    operator: Admin,
    db: DB,
    scope: ScopeDep,
    dry_run: Annotated[bool, Query(description="true: report what would change")] = False,
) -> Any:
    data = await _read_upload(request)
    report = await import_mapping(db, data, dry_run=dry_run, actor=actor(operator), scope=scope)
    if report.errors:
        return JSONResponse(
            ImportRefused(
                detail=f"import refused: {len(report.errors)} problem(s); nothing was imported",
                errors=[from_row(RowErrorOut, e) for e in report.errors],
            ).model_dump(),
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    return from_row(ImportOut, report)


async def _read_upload(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    # isascii: "²" is a digit to str.isdigit() but not to int() (httptools refuses it first).
    if (
        declared
        and declared.isascii()
        and declared.isdigit()
        and int(declared) > MAX_BYTES + 64 * 1024
    ):
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "file larger than 2 MiB")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "multipart upload needs a 'file' field"
            )
        data = await upload.read(MAX_BYTES + 1)
    else:
        data = b""
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_BYTES:
                break
    if len(data) > MAX_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "file larger than 2 MiB")
    return data
