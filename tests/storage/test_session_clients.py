"""Terminal server clients (issue 19) on every backend: found in any spelling, registered once.

Two hub instances may see the first sessions of one new client at the same moment (a
thin client reconnecting to two terminal servers behind a load balancer): exactly one
row and one audit event must result, and every session must get the same client.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from dispatch.directory.identities import WorkstationView
from dispatch.directory.refusals import Invalid
from dispatch.directory.room_mapping import import_mapping
from dispatch.directory.session_clients import ClientRevoked, session_client_id
from dispatch.directory.site_scope import EVERY_SITE
from dispatch.directory.site_setup import create_building, create_floor, create_room, create_site
from dispatch.directory.workstations import add_workstation, revoke_workstation
from dispatch.store.database import Database
from dispatch.store.models import AuditEvent, Workstation
from shared.domain import WorkstationRole, WorkstationState


async def host_of_new_site(db: Database, name: str) -> WorkstationView:
    site = await create_site(db, "admin:test", name, "Teststraße 1", scope=EVERY_SITE)
    host_id = f"rds-{site.id}"
    await add_workstation(db, "admin:test", host_id, site.id, None, f"token-{site.id}")
    return WorkstationView(id=host_id, site_id=site.id, role=WorkstationRole.STAFF, display_name="")


async def test_two_instances_registering_one_new_client_make_one_row(db: Database) -> None:
    host = await host_of_new_site(db, "Test")
    other_db = Database(db.url)  # a second hub process: its own pool and writer lock
    try:
        ids = await asyncio.gather(
            *(
                session_client_id(instance, host, "THIN-07")
                for instance in [db, other_db, db, other_db]
            )
        )
    finally:
        await other_db.dispose()
    assert ids == ["THIN-07"] * 4
    async with db.read() as session:
        rows = list(await session.scalars(select(Workstation).where(Workstation.id == "THIN-07")))
        registered = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "session_client_registered")
        )
    assert [(r.site_id, r.room_id, r.state, r.token_hash) for r in rows] == [
        (host.site_id, None, WorkstationState.PENDING.value, "")
    ]
    assert registered == 1
    # Found again in another spelling, without a second row (Windows names ignore case).
    assert await session_client_id(db, host, "thin-07") == "THIN-07"


async def test_a_host_speaks_for_no_revoked_client_and_no_other_sites(db: Database) -> None:
    host = await host_of_new_site(db, "Hier")
    elsewhere = await host_of_new_site(db, "Anderswo")
    assert await session_client_id(db, elsewhere, "THIN-FAR") == "THIN-FAR"
    with pytest.raises(Invalid, match="another site"):
        await session_client_id(db, host, "thin-far")
    assert await session_client_id(db, host, "THIN-GONE") == "THIN-GONE"
    await revoke_workstation(db, "admin:test", "THIN-GONE", scope=EVERY_SITE)
    with pytest.raises(ClientRevoked, match="revoked"):
        await session_client_id(db, host, "THIN-GONE")
    # Two rows differing only in case: which one the session means is not for the hub to guess.
    await add_workstation(db, "admin:test", "pc-twice", host.site_id, None, "t1")
    await add_workstation(db, "admin:test", "PC-TWICE", host.site_id, None, "t2")
    with pytest.raises(Invalid, match="several workstations"):
        await session_client_id(db, host, "Pc-Twice")
    assert await session_client_id(db, host, "PC-TWICE") == "PC-TWICE"  # the exact one
    async with db.read() as session:
        count = await session.scalar(select(func.count()).select_from(Workstation))
    assert count == 6  # two hosts, THIN-FAR, THIN-GONE, pc-twice, PC-TWICE: nothing more


async def test_a_csv_import_and_first_sessions_of_the_same_new_clients_make_one_row_each(
    db: Database,
) -> None:
    """The import creating clients (kind client) while their first sessions register them,
    on another hub instance: one row per client, in the import's room, whoever wins."""
    host = await host_of_new_site(db, "Import")
    building = await create_building(db, "admin:test", host.site_id, "Haus", scope=EVERY_SITE)
    floor = await create_floor(db, "admin:test", building.id, "EG", scope=EVERY_SITE)
    room = await create_room(db, "admin:test", floor.id, "0.01", "Beratung", scope=EVERY_SITE)
    names = [f"THIN-R{n}" for n in range(6)]
    rows = "".join(f"{name},0.01,{host.site_id},client\n" for name in names)
    data = f"hostname,room_number,site_id,kind\n{rows}".encode()
    other_db = Database(db.url)
    try:
        report, ids = await asyncio.gather(
            import_mapping(db, data, dry_run=False, actor="admin:test", scope=EVERY_SITE),
            asyncio.gather(*(session_client_id(other_db, host, name.lower()) for name in names)),
        )
    finally:
        await other_db.dispose()
    assert report.errors == []
    assert report.imported
    assert len(report.created) + len(report.changed) == len(names)
    async with db.read() as session:
        stored = list(await session.scalars(select(Workstation).where(Workstation.id != host.id)))
    assert sorted(ws.id.upper() for ws in stored) == names  # one row each, in some spelling
    assert sorted(ids) == sorted(ws.id for ws in stored)  # each session got that row
    assert {(ws.room_id, ws.state) for ws in stored} == {(room.id, WorkstationState.ACTIVE.value)}
