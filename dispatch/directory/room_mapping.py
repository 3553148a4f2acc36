"""CSV import and export of the workstation-to-room mapping (the spreadsheet IT already keeps).

Export columns: ``hostname, workstation_id, room_number, role, state``.
Import columns: ``room_number`` plus ``hostname`` and/or ``workstation_id``,
optionally ``role`` (``state`` is accepted and ignored, so an export can be
edited and imported again), ``site_id`` and ``kind``. Rows are matched to
existing workstations; only a row of ``kind`` ``client`` may create one, a
terminal server's client device mapped ahead (mapping_clients.py, issue 19).
Every bad row is reported with its line number; if any row is bad nothing is
imported. A real import is one transaction and audited.

An import reads the file (``parse``), finds each row's workstation
(``_resolve``), checks what the row asks for (``_validate``) and only then
changes anything (``_apply``), with the rules of dispatch/directory/workstations.py.
Both directions see only the workstations and rooms of the operator's sites: a
row naming another site's PC is an unknown workstation.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.directory import mapping_clients
from dispatch.directory.mapping_clients import NewClient, Taken
from dispatch.directory.refusals import Refused
from dispatch.directory.site_scope import SiteScope
from dispatch.directory.workstations import change_workstation
from dispatch.store.audit import AuditTrail
from dispatch.store.database import Database
from dispatch.store.models import Room, Workstation
from shared.domain import WorkstationRole, WorkstationState

EXPORT_COLUMNS = ("hostname", "workstation_id", "room_number", "role", "state")
IMPORT_ONLY_COLUMNS = ("site_id", "kind")  # the export leaves them out: empty is the default
IGNORED_COLUMNS = frozenset({"state"})
KNOWN_COLUMNS = frozenset(EXPORT_COLUMNS + IMPORT_ONLY_COLUMNS)
MAX_BYTES = 2 * 1024 * 1024
CSV_IMPORT = "csv_import"


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
    kind: str = ""  # "" or "pc": an existing workstation; "client": a thin client
    site_id: str = ""  # "": the workstation's own site (a new client: the room's)


@dataclass
class ImportReport:
    dry_run: bool
    imported: bool = False
    rows: int = 0
    changed: list[dict[str, Any]] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)  # new thin clients
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    skipped: list[Row] = field(default_factory=list)  # no such workstation (skip_unknown)


@dataclass(frozen=True, slots=True)
class _Known:
    """The workstations and rooms the rows are matched against, read once."""

    by_id: dict[str, Workstation]
    by_host: dict[str, list[Workstation]]  # lower-case hostname: a name can be taken twice
    room_ids: dict[tuple[int, str], int]  # (site, number): room id
    numbers: dict[int, str]  # room id: number
    taken: dict[str, list[Taken]]  # every site's ids, lower case: only with client rows


@dataclass(frozen=True, slots=True)
class _Planned:
    row: Row
    workstation: Workstation
    room_id: int
    role: WorkstationRole | None


@dataclass
class _Plan:
    moves: list[_Planned] = field(default_factory=list)
    new_clients: list[NewClient] = field(default_factory=list)


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
                    kind=values.get("kind", ""),
                    site_id=values.get("site_id", ""),
                )
            )
    except csv.Error as error:
        errors.append(RowError(reader.line_num, f"malformed CSV: {error}"))
    if not rows and not errors:
        errors.append(RowError(1, "empty file: a header but no rows"))
    if not rows:
        return [], errors
    return rows, errors


async def import_mapping(
    db: Database, data: bytes, *, dry_run: bool, actor: str, scope: SiteScope
) -> ImportReport:
    """Validates every row, then applies all of them in one transaction, or none."""
    report = ImportReport(dry_run=dry_run)
    rows, report.errors = parse(data)
    report.rows = len(rows)
    if not rows:  # the file itself is unusable: nothing to check row by row
        return report
    return await import_rows(db, rows, report, actor=actor, scope=scope)


async def import_rows(
    db: Database,
    rows: list[Row],
    report: ImportReport,
    *,
    actor: str,
    scope: SiteScope,
    source: str = CSV_IMPORT,
    skip_unknown: bool = False,
) -> ImportReport:
    """The rules of an import for rows from anywhere (the CSV file, the directory's computer
    objects): every row checked, then all applied in one transaction, or none.

    ``skip_unknown``: a row naming no known workstation is listed in ``report.skipped``
    instead of being an error (the directory holds PCs that never enrolled).
    """
    with_clients = any(row.kind.lower() == mapping_clients.CLIENT for row in rows)
    try:
        async with db.write() as session:
            if with_clients and not report.dry_run:
                # The audit chain's lock before the names are read, as every writer
                # creating a client takes it (session_clients.create_client).
                await AuditTrail.open(session)
            known = await _read_known(session, scope, with_clients)
            if skip_unknown:
                rows = _known_rows(rows, known, report)
            plan = _plan(rows, known, report)
            if not report.errors:
                await _apply(session, plan, known, report, actor, scope, source)
            if report.errors or report.dry_run:
                raise _DryRun
            report.imported = True
    except _DryRun:
        pass
    report.errors.sort(key=lambda e: e.line)
    if report.errors:
        report.changed, report.created, report.unchanged = [], [], 0
    return report


async def _read_known(session: AsyncSession, scope: SiteScope, with_clients: bool) -> _Known:
    workstations = list(
        await session.scalars(select(Workstation).where(scope.where(Workstation.site_id)))
    )
    by_host: dict[str, list[Workstation]] = {}
    for candidate in workstations:
        if candidate.hostname:
            by_host.setdefault(candidate.hostname.lower(), []).append(candidate)
    rooms = list(await session.scalars(select(Room).where(scope.where(Room.site_id))))
    return _Known(
        by_id={ws.id: ws for ws in workstations},
        by_host=by_host,
        room_ids={(r.site_id, r.number): r.id for r in rooms},
        numbers={r.id: r.number for r in rooms},
        taken=await mapping_clients.read_taken(session) if with_clients else {},
    )


def _known_rows(rows: list[Row], known: _Known, report: ImportReport) -> list[Row]:
    """The rows that name a known workstation; the others go to ``report.skipped``."""
    kept: list[Row] = []
    for row in rows:
        ws, problems = _resolve(row, known)
        if ws is None and problems and problems[0].startswith("unknown workstation"):
            report.skipped.append(row)
        else:
            kept.append(row)
    return kept


def _plan(rows: list[Row], known: _Known, report: ImportReport) -> _Plan:
    """Each row's workstation (or new client) and wishes; every problem goes to the report."""
    seen: dict[str, int] = {}  # workstation id: the line that named it first
    new_names: dict[str, tuple[int, str]] = {}  # a new client's name, lower case: line, name
    plan = _Plan()
    for row in rows:
        kind, problems = _kind(row)
        if problems:  # a PC or a client to create? Nothing else about the row is clear.
            report.errors.extend(RowError(row.line, p) for p in problems)
            continue
        new: NewClient | None = None
        move: _Planned | None = None
        to_create: str | None = None
        if kind == mapping_clients.CLIENT:
            ws, to_create, more = _client(row, known)
        else:
            ws, more = _resolve(row, known)
        problems += more
        if to_create is not None:
            new, more = _new_client(row, to_create, known, new_names)
        else:
            role, room_id, more = _validate(row, ws, known, seen)
            if ws is not None and room_id is not None:
                move = _Planned(row, ws, room_id, role)
        problems += more
        report.errors.extend(RowError(row.line, p) for p in problems)
        if problems:
            continue
        if new is not None:
            plan.new_clients.append(new)
        if move is not None:
            plan.moves.append(move)
    return plan


def _kind(row: Row) -> tuple[str, list[str]]:
    kind = row.kind.lower() or mapping_clients.PC
    if kind not in mapping_clients.KINDS:
        return kind, [f"bad kind {row.kind!r} (pc or client)"]
    return kind, []


def _client(row: Row, known: _Known) -> tuple[Workstation | None, str | None, list[str]]:
    """A client row's workstation if its name is taken (in any spelling, as a session
    matches it), else the name of the client to create."""
    name, problems = mapping_clients.client_name(row.hostname, row.workstation_id)
    if problems:
        return None, None, problems
    found, problems = mapping_clients.match(name, known.taken)
    if problems:
        return None, None, problems
    if found is None:
        return None, name, []
    ws = known.by_id.get(found.id)
    return ws, None, [] if ws is not None else [mapping_clients.out_of_scope(found)]


def _new_client(
    row: Row, name: str, known: _Known, new_names: dict[str, tuple[int, str]]
) -> tuple[NewClient | None, list[str]]:
    """The client a row creates, its role and room checked as any row's."""
    role, role_problems = _role(row)
    site, site_problems = _site(row)
    new, problems = mapping_clients.new_client(
        row.line, name, row.room_number, site, role, known.room_ids, new_names
    )
    problems += role_problems + site_problems
    if not row.room_number:
        problems.append("missing room_number")
    return None if problems else new, problems


def _resolve(row: Row, known: _Known) -> tuple[Workstation | None, list[str]]:
    """The workstation a row names, by id (its hostname must agree) or by hostname."""
    if row.workstation_id:
        ws = known.by_id.get(row.workstation_id)
        if ws is None:
            return None, [f"unknown workstation {row.workstation_id!r}"]
        if row.hostname and ws.hostname and ws.hostname.lower() != row.hostname.lower():
            return ws, [
                f"hostname {row.hostname!r} does not match workstation {ws.id} "
                f"(hostname {ws.hostname!r})"
            ]
        return ws, []
    if not row.hostname:
        return None, ["missing hostname or workstation_id"]
    matches = known.by_host.get(row.hostname.lower(), [])
    if not matches and row.hostname in known.by_id:
        matches = [known.by_id[row.hostname]]
    if len(matches) > 1:
        return None, [
            f"hostname {row.hostname!r} matches several workstations "
            f"({', '.join(m.id for m in matches)}): give workstation_id"
        ]
    if matches:
        return matches[0], []
    return None, [f"unknown workstation {row.hostname!r}"]


def _validate(
    row: Row, ws: Workstation | None, known: _Known, seen: dict[str, int]
) -> tuple[WorkstationRole | None, int | None, list[str]]:
    """The role and room a row asks for, and why they cannot be had."""
    role, problems = _role(row)
    site, more = _site(row)
    problems += more
    room_id: int | None = None
    if not row.room_number:
        problems.append("missing room_number")
    if ws is None:
        return role, room_id, problems
    if ws.id in seen:
        problems.append(f"duplicate row: workstation {ws.id} is on line {seen[ws.id]} too")
    else:
        seen[ws.id] = row.line
    if ws.state == WorkstationState.REVOKED:
        problems.append(f"workstation {ws.id} is revoked")
    if site is not None and site != ws.site_id:
        # Rooms are looked up at the PC's own site: a move to another site is not a CSV's.
        problems.append(f"workstation {ws.id} is at site {ws.site_id}, not {site}")
        return role, room_id, problems
    if row.room_number:
        room_id = known.room_ids.get((ws.site_id, row.room_number))
        if room_id is None:
            problems.append(f"unknown room {row.room_number!r} at site {ws.site_id}")
    return role, room_id, problems


def _role(row: Row) -> tuple[WorkstationRole | None, list[str]]:
    if not row.role:
        return None, []
    try:
        return WorkstationRole(row.role.lower()), []
    except ValueError:
        return None, [f"bad role {row.role!r} (staff or security)"]


def _site(row: Row) -> tuple[int | None, list[str]]:
    if not row.site_id:
        return None, []
    # isascii: int() would take other scripts' digits ("١") that no export ever writes.
    if not (row.site_id.isascii() and row.site_id.isdigit()):
        return None, [f"bad site_id {row.site_id!r}"]
    return int(row.site_id), []


async def _apply(
    session: AsyncSession,
    plan: _Plan,
    known: _Known,
    report: ImportReport,
    actor: str,
    scope: SiteScope,
    source: str,
) -> None:
    """Changes the planned workstations and creates the new clients; audited unless this is
    a dry run (which does the same and is rolled back)."""
    audit = await AuditTrail.open(session) if not report.dry_run else None
    for move in plan.moves:
        ws = move.workstation
        try:
            changes = await change_workstation(session, ws, move.room_id, move.role, None, scope)
        except Refused as error:
            report.errors.append(RowError(move.row.line, str(error)))
            continue
        if not changes:
            report.unchanged += 1
            continue
        if "room_id" in changes:
            old, new = changes.pop("room_id")
            changes["room_number"] = [
                known.numbers.get(old) if isinstance(old, int) else None,
                known.numbers[new] if isinstance(new, int) else None,
            ]
        report.changed.append(
            {
                "line": move.row.line,
                "workstation_id": ws.id,
                "hostname": ws.hostname,
                "changes": changes,
            }
        )
        if audit is not None:
            audit.append(
                actor,
                "workstation_changed",
                workstation_id=ws.id,
                room_id=ws.room_id,
                changes=changes,
                source=source,
            )
    for client in plan.new_clients:
        report.created.append(mapping_clients.create(session, audit, actor, client, source))
    if audit is not None and not report.errors:
        extra: dict[str, Any] = {} if source == CSV_IMPORT else {"source": source}
        if report.created:
            extra["created"] = len(report.created)
        audit.append(
            actor, "mapping_imported", rows=report.rows, changed=len(report.changed), **extra
        )


async def export_mapping(db: Database, scope: SiteScope) -> str:
    async with db.read() as session:
        rows = (
            await session.execute(
                select(Workstation, Room.number)
                .outerjoin(Room, Room.id == Workstation.room_id)
                .where(scope.where(Workstation.site_id))
                .order_by(Workstation.id)
            )
        ).all()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for ws, number in rows:
        writer.writerow([ws.hostname, ws.id, number or "", ws.role, ws.state])
    return out.getvalue()
