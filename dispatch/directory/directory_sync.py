"""PC → room from the directory's computer objects, with the rules of the CSV import.

Each computer entry (``LDAP_COMPUTER_BASE``/``FILTER``) becomes one mapping row:
its host name (``LDAP_COMPUTER_NAME_ATTRIBUTE``) and room number
(``LDAP_COMPUTER_ROOM_ATTRIBUTE``). The rows go through the CSV import's own
function (``room_mapping.import_rows``), so both paths behave alike: every row
checked first, an unknown room or a revoked PC refuses the whole sync, a dry
run changes nothing, an applied one is one audited transaction. Unlike a CSV
file the directory also holds PCs that never enrolled, and PCs without a room
attribute: both are listed, not errors. Rooms are never created.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from dispatch.directory.ldap_directory import DirectoryComputer, LdapDirectory
from dispatch.directory.room_mapping import ImportReport, Row, import_rows
from dispatch.directory.site_scope import SiteScope
from dispatch.store.database import Database

SOURCE = "directory_sync"


@dataclass
class SyncReport:
    """The import's report, each row's line standing for a computer entry (``dn_of``)."""

    report: ImportReport
    dn_of: dict[int, str] = field(default_factory=dict)
    without_room: list[DirectoryComputer] = field(default_factory=list)

    def where(self, line: int) -> str:
        return self.dn_of.get(line, f"entry {line}")


async def sync_rooms(
    db: Database, directory: LdapDirectory, *, dry_run: bool, actor: str, scope: SiteScope
) -> SyncReport:
    """Reads the computers (``DirectoryUnavailable`` when it cannot), then imports them."""
    computers = await asyncio.to_thread(directory.computers)
    result = SyncReport(ImportReport(dry_run=dry_run))
    rows: list[Row] = []
    for computer in computers:
        if not computer.hostname or not computer.room:
            result.without_room.append(computer)
            continue
        line = len(rows) + 1
        result.dn_of[line] = computer.dn
        rows.append(Row(line, computer.hostname, "", computer.room, ""))
    result.report.rows = len(rows)
    if rows:
        await import_rows(
            db, rows, result.report, actor=actor, scope=scope, source=SOURCE, skip_unknown=True
        )
    return result
