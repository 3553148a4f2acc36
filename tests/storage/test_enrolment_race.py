"""Two hub instances racing for one enrolment code: exactly one wins, on every backend."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from dispatch.database import Database
from dispatch.directory import Directory, Enrolled, EnrolmentRefused
from dispatch.models import Workstation


async def test_two_instances_racing_for_one_code_enrol_exactly_one_workstation(
    db: Database,
) -> None:
    first = Directory(db)
    site_id = await first.add_site("Test", "Teststraße 1")
    (issued,) = await first.create_enrolment_codes(site_id, None, 1, "admin:test")
    # A second Database is a second hub process: its own pool, its own writer lock.
    other_db = Database(db.url)
    try:
        second = Directory(other_db)
        results = await asyncio.gather(
            *(
                directory.enrol(issued.code, f"pc-{n}", "test")
                for n, directory in enumerate([first, second, first, second])
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
