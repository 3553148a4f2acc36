"""CSV import and export of the workstation-to-room mapping (the spreadsheet IT already keeps).

Export columns: ``hostname, workstation_id, room_number, role, state``.
Import columns: ``room_number`` plus ``hostname`` and/or ``workstation_id``,
optionally ``role`` (``state`` is accepted and ignored, so an export can be
edited and imported again). Rows are matched to existing workstations; none
are created. Every bad row is reported with its line number; if any row is
bad nothing is imported. A real import is one transaction and audited.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.api.deps import DB, Admin, Reader, actor
from dispatch.api.schemas import Output
from dispatch.audit import AuditTrail
from dispatch.database import Database
from dispatch.directory import REVOKED, Conflict, DirectoryError, apply_workstation_change
from dispatch.models import Room, Workstation
from shared.domain import WorkstationRole

router = APIRouter(tags=["workstations"])

EXPORT_COLUMNS = ("hostname", "workstation_id", "room_number", "role", "state")
IGNORED_COLUMNS = frozenset({"state"})
KNOWN_COLUMNS = frozenset(EXPORT_COLUMNS)
MAX_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    hostname: str
    workstation_id: str
    room_number: str
    role: str


@dataclass
class ImportReport:
    dry_run: bool
    imported: bool = False
    rows: int = 0
    changed: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)


class _DryRun(Exception):
    """Rolls the transaction back after a dry run has computed its changes."""


def parse(data: bytes) -> tuple[list[Row], list[RowError]]:
    """Rows of the file, or every problem found in it (line numbers as an editor shows them)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        return [], [RowError(line, "file is not UTF-8 text (save it as CSV UTF-8)")]
    if not text.strip():
        return [], [RowError(1, "empty file: expected a header line and rows")]
    first = text.splitlines()[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [name.strip().lower() for name in next(reader)]
    errors: list[RowError] = []
    for name in header:
        if name not in KNOWN_COLUMNS:
            errors.append(RowError(1, f"unknown column {name!r}"))
    if len(set(header)) != len(header):
        errors.append(RowError(1, "a column appears twice in the header"))
    if "room_number" not in header:
        errors.append(RowError(1, "missing column room_number"))
    if "hostname" not in header and "workstation_id" not in header:
        errors.append(RowError(1, "missing column hostname (or workstation_id)"))
    if errors:
        return [], errors  # rows cannot be read without a usable header
    rows: list[Row] = []
    try:
        for fields in reader:
            line = reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if len(fields) > len(header):
                errors.append(RowError(line, f"{len(fields)} fields, the header has {len(header)}"))
                continue
            values = dict(zip(header, (f.strip() for f in fields), strict=False))
            missing = [name for name in header if name not in values]
            if missing:
                errors.append(RowError(line, f"missing column {', '.join(missing)}"))
                continue
            rows.append(
                Row(
                    line=line,
                    hostname=values.get("hostname", ""),
                    workstation_id=values.get("workstation_id", ""),
                    room_number=values.get("room_number", ""),
                    role=values.get("role", ""),
                )
            )
    except csv.Error as error:
        errors.append(RowError(reader.line_num, f"malformed CSV: {error}"))
    if not rows and not errors:
        errors.append(RowError(1, "empty file: a header but no rows"))
    if not rows:
        return [], errors
    return rows, errors


async def import_mapping(db: Database, data: bytes, *, dry_run: bool, actor: str) -> ImportReport:
    """Validates every row, then applies all of them in one transaction, or none."""
    report = ImportReport(dry_run=dry_run)
    rows, report.errors = parse(data)
    report.rows = len(rows)
    if not rows:  # the file itself is unusable: nothing to check row by row
        return report
    try:
        async with db.write() as session:
            await _apply(session, rows, report, actor)
            if report.errors or dry_run:
                raise _DryRun
            report.imported = True
    except _DryRun:
        pass
    report.errors.sort(key=lambda e: e.line)
    if report.errors:
        report.changed, report.unchanged = [], 0
    return report


async def _apply(session: AsyncSession, rows: list[Row], report: ImportReport, who: str) -> None:
    workstations = list(await session.scalars(select(Workstation)))
    by_id = {ws.id: ws for ws in workstations}
    by_host: dict[str, list[Workstation]] = {}
    for candidate in workstations:
        if candidate.hostname:
            by_host.setdefault(candidate.hostname.lower(), []).append(candidate)
    rooms = list(await session.scalars(select(Room)))
    room_ids = {(r.site_id, r.number): r.id for r in rooms}
    numbers = {r.id: r.number for r in rooms}
    seen: dict[str, int] = {}
    planned: list[tuple[Row, Workstation, int, WorkstationRole | None]] = []
    for row in rows:
        problems: list[str] = []
        ws: Workstation | None = None
        if row.workstation_id:
            ws = by_id.get(row.workstation_id)
            if ws is None:
                problems.append(f"unknown workstation {row.workstation_id!r}")
            elif row.hostname and ws.hostname and ws.hostname.lower() != row.hostname.lower():
                problems.append(
                    f"hostname {row.hostname!r} does not match workstation {ws.id} "
                    f"(hostname {ws.hostname!r})"
                )
        elif row.hostname:
            matches = by_host.get(row.hostname.lower(), [])
            if not matches and row.hostname in by_id:
                matches = [by_id[row.hostname]]
            if len(matches) > 1:
                problems.append(
                    f"hostname {row.hostname!r} matches several workstations "
                    f"({', '.join(m.id for m in matches)}): give workstation_id"
                )
            elif matches:
                ws = matches[0]
            else:
                problems.append(f"unknown workstation {row.hostname!r}")
        else:
            problems.append("missing hostname or workstation_id")
        role: WorkstationRole | None = None
        if row.role:
            try:
                role = WorkstationRole(row.role.lower())
            except ValueError:
                problems.append(f"bad role {row.role!r} (staff or security)")
        room_id: int | None = None
        if not row.room_number:
            problems.append("missing room_number")
        if ws is not None:
            if ws.id in seen:
                problems.append(f"duplicate row: workstation {ws.id} is on line {seen[ws.id]} too")
            else:
                seen[ws.id] = row.line
            if ws.state == REVOKED:
                problems.append(f"workstation {ws.id} is revoked")
            if row.room_number:
                room_id = room_ids.get((ws.site_id, row.room_number))
                if room_id is None:
                    problems.append(f"unknown room {row.room_number!r} at site {ws.site_id}")
        report.errors.extend(RowError(row.line, p) for p in problems)
        if not problems and ws is not None and room_id is not None:
            planned.append((row, ws, room_id, role))
    if report.errors:
        return
    audit = await AuditTrail.open(session) if not report.dry_run else None
    for row, ws, room_id, role in planned:
        try:
            changes = await apply_workstation_change(session, ws, room_id, role, None)
        except (Conflict, DirectoryError) as error:
            report.errors.append(RowError(row.line, str(error)))
            continue
        if not changes:
            report.unchanged += 1
            continue
        if "room_id" in changes:
            old, new = changes.pop("room_id")
            changes["room_number"] = [
                numbers.get(old) if isinstance(old, int) else None,
                numbers[new] if isinstance(new, int) else None,
            ]
        report.changed.append(
            {"line": row.line, "workstation_id": ws.id, "hostname": ws.hostname, "changes": changes}
        )
        if audit is not None:
            audit.append(
                who,
                "workstation_changed",
                workstation_id=ws.id,
                room_id=ws.room_id,
                changes=changes,
                source="csv_import",
            )
    if audit is not None and not report.errors:
        audit.append(who, "mapping_imported", rows=len(rows), changed=len(report.changed))


async def export_mapping(db: Database) -> str:
    async with db.read() as session:
        rows = (
            await session.execute(
                select(Workstation, Room.number)
                .outerjoin(Room, Room.id == Workstation.room_id)
                .order_by(Workstation.id)
            )
        ).all()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for ws, number in rows:
        writer.writerow([ws.hostname, ws.id, number or "", ws.role, ws.state])
    return out.getvalue()


# --- HTTP --------------------------------------------------------------------


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
async def export_csv(_: Reader, db: DB) -> Response:
    return Response(
        await export_mapping(db),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="workstations.csv"',
            "Cache-Control": "no-store",
        },
    )


@router.post(
    "/workstations/import",
    response_model=ImportOut,
    summary="Assign rooms and roles from a CSV file (all rows or none)",
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
    dry_run: Annotated[bool, Query(description="true: report what would change")] = False,
) -> Any:
    data = await _read_upload(request)
    report = await import_mapping(db, data, dry_run=dry_run, actor=actor(operator))
    if report.errors:
        return JSONResponse(
            ImportRefused(
                detail=f"import refused: {len(report.errors)} problem(s); nothing was imported",
                errors=[RowErrorOut(line=e.line, reason=e.reason) for e in report.errors],
            ).model_dump(),
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    return ImportOut(
        dry_run=report.dry_run,
        imported=report.imported,
        rows=report.rows,
        changed=report.changed,
        unchanged=report.unchanged,
    )


async def _read_upload(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BYTES + 64 * 1024:
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
