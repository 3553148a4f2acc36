"""active_drill on every backend: which scheduled drill runs at a moment, per site."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dispatch.alarms.drills import active_drill, drill_scopes
from dispatch.directory.site_scope import EVERY_SITE
from dispatch.directory.site_setup import create_site
from dispatch.routing.policy import Scope
from dispatch.store.database import Database
from dispatch.store.models import Drill

ACTOR = "test"
NOON = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)


async def _drill(db: Database, site_id: int, title: str, start: datetime, hours: float) -> int:
    async with db.write() as session:
        drill = Drill(
            site_id=site_id,
            title=title,
            starts_at=start,
            ends_at=start + timedelta(hours=hours),
            scopes=json.dumps([Scope.FLOOR.value, Scope.SECURITY.value]),
            created_by="operator:test",
            created_at=start - timedelta(days=1),
        )
        session.add(drill)
        await session.flush()
        return drill.id


async def test_running_drill_is_found_only_between_start_and_end(db: Database) -> None:
    site = (await create_site(db, ACTOR, "Test", "Teststraße 1", scope=EVERY_SITE)).id
    drill_id = await _drill(db, site, "Übung Etage 1", NOON, 1)
    async with db.read() as session:
        assert await active_drill(session, site, NOON - timedelta(seconds=1)) is None
        at_start = await active_drill(session, site, NOON)
        assert at_start is not None
        assert at_start.id == drill_id
        assert drill_scopes(at_start) == {Scope.FLOOR, Scope.SECURITY}
        inside = await active_drill(session, site, NOON + timedelta(minutes=59))
        assert inside is not None
        assert inside.id == drill_id
        # The end is exclusive: a drill from 12:00 to 13:00 is over at 13:00.
        assert await active_drill(session, site, NOON + timedelta(hours=1)) is None


async def test_a_drill_of_another_site_does_not_count(db: Database) -> None:
    site = (await create_site(db, ACTOR, "A", "", scope=EVERY_SITE)).id
    other = (await create_site(db, ACTOR, "B", "", scope=EVERY_SITE)).id
    await _drill(db, other, "Übung B", NOON, 2)
    async with db.read() as session:
        assert await active_drill(session, site, NOON + timedelta(minutes=5)) is None
        found = await active_drill(session, other, NOON + timedelta(minutes=5))
        assert found is not None
        assert found.title == "Übung B"


async def test_overlapping_rows_the_later_start_wins(db: Database) -> None:
    site = (await create_site(db, ACTOR, "A", "", scope=EVERY_SITE)).id
    await _drill(db, site, "alt", NOON, 4)
    newer = await _drill(db, site, "neu", NOON + timedelta(hours=1), 1)
    async with db.read() as session:
        found = await active_drill(session, site, NOON + timedelta(hours=1, minutes=30))
        assert found is not None
        assert found.id == newer
        older = await active_drill(session, site, NOON + timedelta(hours=2, minutes=30))
        assert older is not None
        assert older.title == "alt"


async def test_compares_in_utc_whatever_zone_now_is_given_in(db: Database) -> None:
    site = (await create_site(db, ACTOR, "A", "", scope=EVERY_SITE)).id
    await _drill(db, site, "Übung", NOON, 1)
    # 12:30 in Berlin (UTC+1 in March) is 11:30 UTC: inside a drill from 11:00 to 12:00 UTC.
    berlin = datetime(2026, 3, 10, 12, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    async with db.read() as session:
        assert await active_drill(session, site, berlin) is not None
        assert await active_drill(session, site, berlin + timedelta(hours=1)) is None
