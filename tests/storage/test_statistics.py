"""Incident statistics on every backend: what counts, how it is grouped, that no person shows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from dispatch.alarms.statistics import Period, PeriodError, Statistics, percentile, statistics
from dispatch.directory.site_scope import EVERY_SITE
from dispatch.directory.site_setup import create_building, create_floor, create_room, create_site
from dispatch.directory.workstations import add_workstation
from dispatch.store.database import Database
from dispatch.store.models import Alarm, AlarmRecipient, IncidentReport, Workstation
from shared.domain import WorkstationRole

ACTOR = "test"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Berlin


@dataclass
class World:
    db: Database
    site: int
    other_site: int


@pytest.fixture
async def world(db: Database) -> World:
    """Two sites; site 1 has two buildings; one raiser PC and one security PC per room."""
    site = (await create_site(db, ACTOR, "Jobcenter Nord", "", scope=EVERY_SITE)).id
    other = (await create_site(db, ACTOR, "Jobcenter Süd", "", scope=EVERY_SITE)).id
    for site_id, building, prefix in [
        (site, "Haus A", "a"),
        (site, "Haus B", "b"),
        (other, "Haus S", "s"),
    ]:
        house = await create_building(db, ACTOR, site_id, building, scope=EVERY_SITE)
        floor = (await create_floor(db, ACTOR, house.id, "EG", scope=EVERY_SITE)).id
        room = (
            await create_room(db, ACTOR, floor, f"R-{prefix}", f"Raum {prefix}", scope=EVERY_SITE)
        ).id
        await add_workstation(
            db,
            ACTOR,
            f"pc-{prefix}",
            site_id,
            room,
            f"t-{prefix}",
            WorkstationRole.STAFF,
            "Frau Geheim",
        )
        await add_workstation(
            db,
            ACTOR,
            f"pc-{prefix}-sec",
            site_id,
            room,
            f"t-{prefix}s",
            WorkstationRole.SECURITY,
            "Wache",
        )
    return World(db, site, other)


async def add_alarm(
    db: Database,
    raiser: str = "pc-a",
    raised_at: datetime = T0,
    level: int = 2,
    kind: str = "alarm",
    acknowledged_after: float | None = None,
    coming_after: float | None = None,
    arrived_after: float | None = None,
    cancelled: bool = False,
    report: dict[str, object] | None = None,
) -> str:
    """One alarm as the hub would have stored it, with the security PC as its recipient."""
    alarm_id = str(uuid.uuid4())

    def after(seconds: float | None) -> datetime | None:
        return raised_at + timedelta(seconds=seconds) if seconds is not None else None

    async with db.write() as session:
        room_id = await session.scalar(select(Workstation.room_id).where(Workstation.id == raiser))
        session.add(
            Alarm(
                id=alarm_id,
                workstation_id=raiser,
                room_id=room_id,
                level=level,
                trigger="hotkey",
                state="resolved",
                raiser_name="Frau Geheim",
                kind=kind,
                raised_at=raised_at,
                stored_at=raised_at + timedelta(milliseconds=20),
                cancelled_at=after(5) if cancelled else None,
                acknowledged_by="Operator Olaf" if acknowledged_after is not None else None,
                acknowledged_at=after(acknowledged_after),
                resolved_by="Operator Olaf",
                resolved_at=after(600),
            )
        )
        await session.flush()
        session.add(
            AlarmRecipient(
                alarm_id=alarm_id,
                workstation_id=f"{raiser}-sec",
                instruction="come_help",
                with_location=True,
                received_at=after(0.1),
                answer=("arrived" if arrived_after is not None else "coming")
                if coming_after is not None
                else None,
                responder_name="Responder Rita" if coming_after is not None else None,
                answered_at=after(coming_after),
                arrived_at=after(arrived_after),
            )
        )
        if report is not None:
            session.add(
                IncidentReport(
                    alarm_id=alarm_id,
                    written_by="Operator Olaf",
                    written_at=after(700),
                    **{"assessed_level": level, "notes": "Herr Besucher schrie", **report},
                )
            )
    return alarm_id


MARCH = Period(date(2026, 3, 1), date(2026, 3, 31))


async def read(world: World, period: Period = MARCH, site: int | None = None) -> Statistics:
    async with world.db.read() as session:
        return await statistics(session, period, site, EVERY_SITE)


async def test_only_real_alarms_count(world: World) -> None:
    await add_alarm(world.db, kind="alarm")
    await add_alarm(world.db, kind="drill")
    await add_alarm(world.db, kind="self_test")
    result = await read(world)
    assert result.total.alarms == 1
    assert sum(b.alarms for b in result.per_month) == 1
    assert sum(b.alarms for b in result.per_hour) == 1


async def test_reports_flags_levels_and_cancelled(world: World) -> None:
    await add_alarm(world.db, level=2, report={"assessed_level": 3, "police_called": True})
    await add_alarm(world.db, level=1, report={"injuries": True, "house_ban": True})
    await add_alarm(world.db, level=3, report={"property_damage": True, "police_called": True})
    await add_alarm(world.db, level=1, cancelled=True)  # no report written yet
    total = (await read(world)).total
    assert total.alarms == 4
    assert total.reported == 3
    assert total.cancelled_by_raiser == 1
    assert (total.police_called, total.injuries, total.property_damage, total.house_bans) == (
        2,
        1,
        1,
        1,
    )
    assert total.raised_level == {1: 2, 2: 1, 3: 1}
    assert total.assessed_level == {1: 1, 2: 0, 3: 2}
    per_level = {b.key: b.alarms for b in (await read(world)).per_level}
    assert per_level == {"1": 2, "2": 1, "3": 1}


async def test_months_and_hours_are_local_time(world: World) -> None:
    # 31 March 22:30 UTC is 1 April 00:30 in Berlin (summer time): April, hour 0.
    await add_alarm(world.db, raised_at=datetime(2026, 3, 31, 22, 30, tzinfo=UTC))
    # 28 February 23:30 UTC is 1 March 00:30 in Berlin (winter time): March.
    await add_alarm(world.db, raised_at=datetime(2026, 2, 28, 23, 30, tzinfo=UTC))
    await add_alarm(world.db, raised_at=T0)
    spring = await read(world, Period(date(2026, 2, 1), date(2026, 4, 30)))
    assert [(b.key, b.alarms) for b in spring.per_month] == [
        ("2026-02", 0),
        ("2026-03", 2),
        ("2026-04", 1),
    ]
    hours = {b.key: b.alarms for b in spring.per_hour}
    assert len(hours) == 24
    assert (hours["0"], hours["10"]) == (2, 1)
    # The period is whole local days: March alone excludes the April night.
    assert (await read(world)).total.alarms == 2


async def test_sites_and_buildings_and_site_filter(world: World) -> None:
    await add_alarm(world.db, raiser="pc-a")
    await add_alarm(world.db, raiser="pc-a")
    await add_alarm(world.db, raiser="pc-b")
    await add_alarm(world.db, raiser="pc-s")
    everything = await read(world)
    assert [(b.label, b.alarms) for b in everything.per_site] == [
        ("Jobcenter Nord", 3),
        ("Jobcenter Süd", 1),
    ]
    assert [(b.label, b.alarms) for b in everything.per_building] == [
        ("Jobcenter Nord – Haus A", 2),
        ("Jobcenter Nord – Haus B", 1),
        ("Jobcenter Süd – Haus S", 1),
    ]
    south = await read(world, site=world.other_site)
    assert south.total.alarms == 1
    assert [b.label for b in south.per_site] == ["Jobcenter Süd"]


async def test_acknowledge_is_the_earlier_of_coming_and_operator(world: World) -> None:
    await add_alarm(world.db, coming_after=10, acknowledged_after=30)  # "Ich komme" first: 10
    await add_alarm(world.db, coming_after=50, acknowledged_after=20)  # operator first: 20
    await add_alarm(world.db, acknowledged_after=40)  # nobody answered: 40
    await add_alarm(world.db)  # never acknowledged: not counted, not guessed
    await add_alarm(world.db, coming_after=5, arrived_after=65)  # arrived: 65
    total = (await read(world)).total
    assert total.to_acknowledge.model_dump() == {
        "count": 4,
        "p50_s": 10.0,  # nearest rank of 5, 10, 20, 40
        "p90_s": 40.0,
        "max_s": 40.0,
    }
    assert total.to_arrival.model_dump() == {
        "count": 1,
        "p50_s": 65.0,
        "p90_s": 65.0,
        "max_s": 65.0,
    }


async def test_an_arrived_answer_without_arrival_time_is_the_arrival(world: World) -> None:
    alarm_id = await add_alarm(world.db, coming_after=30)
    async with world.db.write() as session:
        row = await session.get(AlarmRecipient, (alarm_id, "pc-a-sec"))
        assert row is not None
        row.answer = "arrived"  # the answer time is then the time "Bin da" was pressed
    total = (await read(world)).total
    assert (total.to_acknowledge.max_s, total.to_arrival.max_s) == (30.0, 30.0)


async def test_operator_arrival_counts_when_earlier(world: World) -> None:
    alarm_id = await add_alarm(world.db, coming_after=5, arrived_after=90)
    async with world.db.write() as session:
        alarm = await session.get(Alarm, alarm_id)
        assert alarm is not None
        alarm.arrived_at, alarm.arrived_by = T0 + timedelta(seconds=70), "Operator Olaf"
    assert (await read(world)).total.to_arrival.max_s == 70.0


async def test_no_person_appears_anywhere_in_the_output(world: World) -> None:
    await add_alarm(world.db, coming_after=5, arrived_after=40, acknowledged_after=8, report={})
    text = (await read(world)).model_dump_json()
    for personal in ("Geheim", "Rita", "Olaf", "Besucher", "pc-a", "R-a", "Raum a"):
        assert personal not in text


def test_period_errors() -> None:
    with pytest.raises(PeriodError, match="after"):
        Period(date(2026, 2, 1), date(2026, 1, 1))
    with pytest.raises(PeriodError, match="at most"):
        Period(date(2000, 1, 1), date(2026, 1, 1))
    assert Period.year(2026).months()[0] == "2026-01"
    assert len(Period.year(2026).months()) == 12


def test_percentile_is_nearest_rank() -> None:
    assert percentile([3.0], 0.9) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9) == 9.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
