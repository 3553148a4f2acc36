"""Two hub instances racing for one enrolment code: exactly one wins, on every backend."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from dispatch.directory.enrolment import Enrolled, enrol, issue_codes
from dispatch.directory.refusals import EnrolmentRefused
from dispatch.directory.site_scope import EVERY_SITE
from dispatch.directory.site_setup import create_site
from dispatch.store.database import Database
from dispatch.store.models import Workstation


async def test_two_instances_racing_for_one_code_enrol_exactly_one_workstation(
    db: Database,
) -> None:
    site = await create_site(db, "admin:test", "Test", "Teststraße 1", scope=EVERY_SITE)
    (issued,) = await issue_codes(db, "admin:test", site.id, None, 1, scope=EVERY_SITE)
    # A second Database is a second hub process: its own pool, its own writer lock.
    other_db = Database(db.url)
    try:
        results = await asyncio.gather(
            *(
                enrol(instance, issued.code, f"pc-{n}", "test")
                for n, instance in enumerate([db, other_db, db, other_db])
            ),
            return_exceptions=True,
        )
    finally:
        await other_db.dispose()

    won = [r for r in results if isinstance(r, Enrolled)]
    refused = [r for r in results if isinstance(r, EnrolmentRefused)]
    assert len(won) == 1, results
    assert len(refused) == 3, results
    assert {str(r) for r in refused} == {"enrolment code already used"}
    async with db.read() as session:
        assert list(await session.scalars(select(Workstation.id))) == [won[0].workstation_id]
