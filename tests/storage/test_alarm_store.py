"""The alarm store on every backend: idempotent storage, routing, receipts, answers, states."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from dispatch.alarms.lifecycle import AlarmError
from dispatch.alarms.record import AlarmRecord
from dispatch.alarms.store import AlarmStore
from dispatch.alarms.timers import SELF_TEST_TIMEOUT
from dispatch.alarms.views import console_may_see
from dispatch.directory.authentication import Authenticator
from dispatch.directory.identities import OperatorView, WorkstationView
from dispatch.directory.refusals import Conflict
from dispatch.directory.site_scope import EVERY_SITE
from dispatch.directory.site_setup import (
    create_building,
    create_floor,
    create_room,
    create_site,
    set_room_link,
)
from dispatch.directory.workstations import add_workstation, revoke_workstation
from dispatch.live.receipt_queue import ReceiptQueue
from dispatch.store.database import Database
from dispatch.store.models import AuditEvent, Room
from shared.domain import (
    AlarmKind,
    AlarmLevel,
    AlarmState,
    Answer,
    Instruction,
    OperatorRole,
    RoomLinkKind,
    Trigger,
    WorkstationRole,
)
from shared.protocol import IncidentReport, RaiseAlarm, utc_now
from tests.support.waiting import until

ACTOR = "test"


def operator(role: OperatorRole, sites: frozenset[int] = frozenset()) -> OperatorView:
    return OperatorView(id=1, username="op", display_name="Op", role=role, sites=sites)


GUARD = operator(OperatorRole.GUARD)  # every site


@dataclass
class Site:
    db: Database
    authenticator: Authenticator
    alarms: AlarmStore
    raiser: WorkstationView


@pytest.fixture
async def site(db: Database) -> Site:
    """Three rooms in a row (A-B-C) plus security; one PC in each."""
    authenticator = Authenticator(db)
    site_id = (await create_site(db, ACTOR, "Test", "Teststraße 1", scope=EVERY_SITE)).id
    building = await create_building(db, ACTOR, site_id, "Haus 1", scope=EVERY_SITE)
    floor = (await create_floor(db, ACTOR, building.id, "1. OG", scope=EVERY_SITE)).id
    a, b, c, s = [
        (
            await create_room(
                db, ACTOR, floor, n, f"Raum {n}", entrance="Treppenhaus 1", scope=EVERY_SITE
            )
        ).id
        for n in ("A", "B", "C", "S")
    ]
    await set_room_link(db, ACTOR, a, b, RoomLinkKind.LINK, scope=EVERY_SITE)
    await set_room_link(db, ACTOR, b, c, RoomLinkKind.LINK, scope=EVERY_SITE)
    for ws, room, role in [
        ("pc-a", a, WorkstationRole.STAFF),
        ("pc-b", b, WorkstationRole.STAFF),
        ("pc-c", c, WorkstationRole.STAFF),
        ("pc-s", s, WorkstationRole.SECURITY),
    ]:
        await add_workstation(db, ACTOR, ws, site_id, room, f"token-{ws}", role, ws.upper())
    raiser = await authenticator.authenticate_workstation("pc-a", "token-pc-a")
    assert raiser is not None
    return Site(db, authenticator, AlarmStore(db), raiser)


async def open_alarms_for(site: Site, workstation_id: str) -> list[AlarmRecord]:
    """The hub's replay read (``open_alarms_for_many``) for one workstation."""
    return (await site.alarms.open_alarms_for_many([workstation_id]))[workstation_id]


def alarm(
    level: AlarmLevel = AlarmLevel.THREAT, alarm_id: uuid.UUID | None = None, **extra: object
) -> RaiseAlarm:
    return RaiseAlarm(
        alarm_id=alarm_id or uuid.uuid4(),
        level=level,
        trigger=Trigger.HOTKEY,
        raised_at=utc_now(),
        **extra,
    )


async def test_store_routes_to_neighbour_and_security(site: Site) -> None:
    record, created = await site.alarms.store(alarm(), site.raiser, "Frau A")
    assert created
    assert {r.workstation_id for r in record.recipients} == {"pc-b", "pc-s"}
    assert record.room is not None
    assert record.room.number == "A"
    assert (record.room.floor, record.room.building) == ("1. OG", "Haus 1")
    assert record.room.entrance == "Treppenhaus 1"
    assert record.state is AlarmState.ACTIVE
    assert record.stored_at.tzinfo is not None


async def test_same_alarm_id_is_stored_once(site: Site) -> None:
    message = alarm()
    first, created_first = await site.alarms.store(message, site.raiser, "Frau A")
    second, created_second = await site.alarms.store(message, site.raiser, "Frau A")
    assert created_first
    assert not created_second
    assert first == second
    assert len(await site.alarms.open_alarms()) == 1


async def test_a_new_alarm_is_written_before_the_writes_waiting_for_their_turn(
    site: Site, db: Database
) -> None:
    """In a storm, bookkeeping writes queue up; a new alarm waits only for the one running."""
    first, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    holding, release = asyncio.Event(), asyncio.Event()
    order: list[str] = []

    async def long_write() -> None:
        async with db.write():
            holding.set()
            await release.wait()

    async def receipt(workstation_id: str) -> None:
        await site.alarms.record_receipts([(first.id, workstation_id)])
        order.append(f"receipt {workstation_id}")

    async def new_alarm() -> None:
        await site.alarms.store(alarm(), site.raiser, "Frau A")
        order.append("alarm")

    tasks = [asyncio.create_task(long_write())]
    await asyncio.wait_for(holding.wait(), 5)
    tasks += [asyncio.create_task(receipt(ws)) for ws in ("pc-b", "pc-s")]
    await until(lambda: db.writes_waiting == 2, what="receipts waiting for the writer")
    tasks.append(asyncio.create_task(new_alarm()))
    await until(lambda: db.writes_waiting == 3, what="the alarm waiting for the writer")
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert order == ["alarm", "receipt pc-b", "receipt pc-s"]


async def test_level_three_recipients_get_no_location(site: Site) -> None:
    record, _ = await site.alarms.store(alarm(AlarmLevel.DANGER), site.raiser, "Frau A")
    by_ws = {r.workstation_id: r for r in record.recipients}
    assert by_ws["pc-c"].instruction is Instruction.STAY_AWAY
    assert not by_ws["pc-c"].with_location
    assert by_ws["pc-s"].with_location


async def test_receipt_is_recorded_once(site: Site) -> None:
    record, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    assert (await site.alarms.record_receipts([(record.id, "pc-b")])).changed == {record.id}
    changed = await site.alarms.get(record.id)
    assert changed is not None
    recipient = changed.recipient("pc-b")
    assert recipient is not None
    assert recipient.received
    assert (await site.alarms.record_receipts([(record.id, "pc-b")])).changed == set()


async def test_receipt_from_a_non_recipient_changes_nothing(site: Site) -> None:
    """The hub's only receipt path ignores it: the agent's receipt is not answered."""
    record, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    outcome = await site.alarms.record_receipts([(record.id, "pc-c")])
    assert (outcome.changed, outcome.self_tests_passed) == (set(), {})
    stored = await site.alarms.get(record.id)
    assert stored is not None
    assert stored.recipient("pc-c") is None
    assert not any(r.received for r in stored.recipients)


async def test_answers_become_responders_in_order(site: Site) -> None:
    record, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    await site.alarms.record_answer(record.id, "pc-s", Answer.COMING, "Wache")
    updated = await site.alarms.record_answer(record.id, "pc-b", Answer.CANNOT, "Herr B")
    assert [(r.name, r.room, r.answer) for r in updated.responders] == [
        ("Wache", "S", Answer.COMING),
        ("Herr B", "B", Answer.CANNOT),
    ]


async def test_level_three_staff_cannot_answer_coming(site: Site) -> None:
    record, _ = await site.alarms.store(alarm(AlarmLevel.DANGER), site.raiser, "Frau A")
    with pytest.raises(AlarmError) as error:
        await site.alarms.record_answer(record.id, "pc-b", Answer.COMING, "Herr B")
    assert error.value.code == "not_allowed"


async def test_acknowledge_then_resolve_closes_the_alarm(site: Site) -> None:
    record, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    acknowledged = await site.alarms.acknowledge(record.id, "Wache")
    assert acknowledged.state is AlarmState.ACKNOWLEDGED
    assert acknowledged.acknowledged_by == "Wache"
    assert (await site.alarms.acknowledge(record.id, "Wache")).state is AlarmState.ACKNOWLEDGED
    resolved = await site.alarms.resolve(record.id, "Wache")
    assert resolved.state is AlarmState.RESOLVED
    assert await site.alarms.open_alarms() == []
    with pytest.raises(AlarmError):
        await site.alarms.acknowledge(record.id, "Wache")  # resolved cannot go back
    with pytest.raises(AlarmError):
        await site.alarms.record_answer(record.id, "pc-b", Answer.COMING, "Herr B")


async def test_recently_resolved_are_the_newest_resolved_in_the_window(
    site: Site, db: Database
) -> None:
    """What a connecting console lists under "Kürzlich erledigt" (dispatch/live/hub.py)."""
    from sqlalchemy import update

    from dispatch.store.models import Alarm

    now = utc_now()
    records = [(await site.alarms.store(alarm(), site.raiser, "Frau A"))[0] for _ in range(4)]
    for record in records[:3]:
        await site.alarms.resolve(record.id, "Wache")
    async with db.write() as session:  # resolved 13 h, 2 min and 1 min ago
        for record, ago in zip(records, (13 * 60, 2, 1), strict=False):
            await session.execute(
                update(Alarm)
                .where(Alarm.id == str(record.id))
                .values(resolved_at=now - timedelta(minutes=ago))
            )
    await site.alarms.store(alarm(kind=AlarmKind.SELF_TEST), site.raiser, "Frau A")
    assert await site.alarms.expire_self_tests(now + SELF_TEST_TIMEOUT + timedelta(seconds=1))
    since = now - timedelta(hours=12)
    found = await site.alarms.recently_resolved(since, 5, GUARD)
    # Newest first; not the one resolved before the window, the open one or the self-test.
    assert [r.id for r in found] == [records[2].id, records[1].id]
    assert all(r.state is AlarmState.RESOLVED and r.resolved_by == "Wache" for r in found)
    assert [r.id for r in await site.alarms.recently_resolved(since, 1, GUARD)] == [records[2].id]


async def test_recently_resolved_spend_their_limit_only_on_what_the_operator_may_see(
    site: Site, db: Database
) -> None:
    """A busier other site, or level-1 alarms an emergency manager is not shown, must not
    push an operator's own out of "Kürzlich erledigt": the read stops at its limit."""
    from sqlalchemy import update

    from dispatch.store.models import Alarm

    other_site = (await create_site(db, ACTOR, "Andere", "Weg 2", scope=EVERY_SITE)).id
    building = await create_building(db, ACTOR, other_site, "Haus 2", scope=EVERY_SITE)
    floor = (await create_floor(db, ACTOR, building.id, "EG", scope=EVERY_SITE)).id
    room = (await create_room(db, ACTOR, floor, "X", "Raum X", scope=EVERY_SITE)).id
    await add_workstation(
        db, ACTOR, "pc-x", other_site, room, "token-pc-x", WorkstationRole.STAFF, "PC-X"
    )
    elsewhere = await site.authenticator.authenticate_workstation("pc-x", "token-pc-x")
    assert elsewhere is not None
    # Oldest first: ours (a threat, then a call for support), then three of the other site.
    raised = [(AlarmLevel.THREAT, site.raiser), (AlarmLevel.SUPPORT, site.raiser)]
    raised += [(AlarmLevel.THREAT, elsewhere)] * 3
    now = utc_now()
    ids = []
    for minutes_ago, (level, raiser) in zip(range(len(raised), 0, -1), raised, strict=True):
        record = (await site.alarms.store(alarm(level), raiser, "Frau A"))[0]
        await site.alarms.resolve(record.id, "Wache")
        async with db.write() as session:
            await session.execute(
                update(Alarm)
                .where(Alarm.id == str(record.id))
                .values(resolved_at=now - timedelta(minutes=minutes_ago))
            )
        ids.append(record.id)
    ours_threat, ours_support = ids[:2]
    since = now - timedelta(hours=12)
    ours = frozenset({site.raiser.site_id})
    operators = {
        "guard of ours": operator(OperatorRole.GUARD, ours),
        "manager of ours": operator(OperatorRole.EMERGENCY_MANAGER, ours),
        "manager": operator(OperatorRole.EMERGENCY_MANAGER),
        "guard": GUARD,
    }
    newest = {
        name: [r.id for r in await site.alarms.recently_resolved(since, 2, op)]
        for name, op in operators.items()
    }
    assert newest["guard of ours"] == [ours_support, ours_threat]
    assert newest["manager of ours"] == [ours_threat]
    assert newest["manager"] == newest["guard"] == ids[:-3:-1]
    # The same as the rule the console applies to each alarm (views.console_may_see).
    every = await site.alarms.recently_resolved(since, 100, GUARD)
    for name, op in operators.items():
        assert newest[name] == [r.id for r in every if console_may_see(op, r)][:2], name


async def test_unknown_alarm_is_reported(site: Site) -> None:
    with pytest.raises(AlarmError) as error:
        await site.alarms.resolve(uuid.uuid4(), "Wache")
    assert error.value.code == "unknown_alarm"


async def test_open_alarms_for_a_workstation_cover_raised_and_received(site: Site) -> None:
    record, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    assert [r.id for r in await open_alarms_for(site, "pc-a")] == [record.id]
    assert [r.id for r in await open_alarms_for(site, "pc-b")] == [record.id]
    assert await open_alarms_for(site, "pc-c") == []


async def test_open_alarms_of_many_workstations_in_one_read_match_one_by_one(site: Site) -> None:
    first, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    second, _ = await site.alarms.store(alarm(level=AlarmLevel.DANGER), site.raiser, "Frau A")
    many = await site.alarms.open_alarms_for_many(["pc-a", "pc-b", "pc-c"])
    for workstation in ("pc-a", "pc-b", "pc-c"):
        one = await open_alarms_for(site, workstation)
        assert [r.id for r in many[workstation]] == [r.id for r in one]
    assert [r.id for r in many["pc-a"]] == [first.id, second.id]  # oldest first


async def test_handshakes_arriving_together_each_get_their_own_answer(site: Site) -> None:
    """A storm's authentications share reads (dispatch.store.coalesce) but never answers."""
    await revoke_workstation(site.db, "admin", "pc-c", scope=EVERY_SITE)
    attempts = [("pc-a", "token-pc-a"), ("pc-b", "token-pc-b"), ("pc-a", "token-pc-b"),
                ("pc-x", "token-pc-x"), ("pc-b", "wrong"), ("pc-c", "token-pc-c")] * 20  # fmt: skip
    results = await asyncio.gather(
        *(site.authenticator.authenticate_workstation(ws, token) for ws, token in attempts)
    )
    for (ws, token), result in zip(attempts, results, strict=True):
        if token == f"token-{ws}" and ws in ("pc-a", "pc-b"):
            assert result is not None
            assert result.id == ws
        else:
            assert result is None


async def test_wrong_token_does_not_authenticate(site: Site) -> None:
    assert await site.authenticator.authenticate_workstation("pc-a", "token-pc-b") is None
    assert await site.authenticator.authenticate_workstation("pc-x", "token-pc-a") is None


async def test_duplicate_room_and_workstation_are_refused_and_nothing_changes(site: Site) -> None:
    building = await create_building(
        site.db, ACTOR, site.raiser.site_id, "Haus 2", scope=EVERY_SITE
    )
    floor = (await create_floor(site.db, ACTOR, building.id, "EG", scope=EVERY_SITE)).id
    with pytest.raises(Conflict):
        await create_room(
            site.db, ACTOR, floor, "A", "again", scope=EVERY_SITE
        )  # numbers are unique per site
    with pytest.raises(Conflict):
        await add_workstation(site.db, ACTOR, "pc-a", site.raiser.site_id, None, "t")
    assert await site.authenticator.authenticate_workstation("pc-a", "token-pc-a") is not None


async def test_receipts_are_written_in_one_batch_once(site: Site) -> None:
    record, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    changed = (
        await site.alarms.record_receipts({(record.id, "pc-b"), (record.id, "pc-s")})
    ).changed
    assert changed == {record.id}
    assert (await site.alarms.record_receipts({(record.id, "pc-b")})).changed == set()  # repeated
    assert not (await site.alarms.record_receipts({(record.id, "pc-c")})).changed  # not ours
    stored = await site.alarms.get(record.id)
    assert stored is not None
    assert {r.workstation_id for r in stored.recipients if r.received} == {"pc-b", "pc-s"}
    assert await site.alarms.unconfirmed() == {}


async def test_unconfirmed_lists_recipients_without_receipt(site: Site) -> None:
    record, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    await site.alarms.record_receipts({(record.id, "pc-s")})
    assert await site.alarms.unconfirmed() == {record.id: {"pc-b"}}


async def test_an_excluded_room_is_no_neighbour_and_the_radius_adds_near_rooms(
    db: Database, site: Site
) -> None:
    from sqlalchemy import update

    from dispatch.store.models import Room, RoomNeighbour
    from dispatch.store.models import Site as SiteRow

    async with db.write() as session:
        # pc-a's room A is linked to B; an admin excludes B, and rooms within 6 m count.
        await session.execute(
            update(RoomNeighbour).where(RoomNeighbour.room_id.is_not(None)).values(kind="exclude")
        )
        await session.execute(update(SiteRow).values(neighbour_radius_m=6.0))
        for number, x in (("A", 0.0), ("B", 5.0), ("C", 5.5)):
            await session.execute(update(Room).where(Room.number == number).values(x_m=x, y_m=0.0))
    record, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    assert {r.workstation_id for r in record.recipients} == {"pc-c", "pc-s"}


async def test_escalation_widens_the_circle_once_per_step(site: Site) -> None:
    from datetime import timedelta

    record, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")  # default: floor at 45 s
    assert await site.alarms.escalate_due(record.stored_at + timedelta(seconds=44)) == []
    [(escalated, added)] = await site.alarms.escalate_due(record.stored_at + timedelta(seconds=46))
    assert added == ["pc-c"]  # the same floor; pc-b and pc-s were told already
    assert escalated.escalation_step == 1
    assert await site.alarms.escalate_due(record.stored_at + timedelta(seconds=46)) == []


async def test_acknowledged_or_answered_alarms_never_escalate(site: Site) -> None:
    from datetime import timedelta

    first, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    second, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    await site.alarms.acknowledge(first.id, "Wache")
    await site.alarms.record_answer(second.id, "pc-b", Answer.COMING, "Herr B")
    assert await site.alarms.escalate_due(first.stored_at + timedelta(hours=1)) == []


async def test_cancel_only_within_the_window(site: Site) -> None:
    record, _ = await site.alarms.store(alarm(AlarmLevel.SUPPORT), site.raiser, "Frau A")
    assert record.cancel_window_s == 30
    cancelled = await site.alarms.cancel(record.id, site.raiser)
    assert cancelled.state is AlarmState.CANCELLED
    assert [a.id for a in await site.alarms.open_alarms()] == [record.id]  # console follows up
    assert await open_alarms_for(site, "pc-b") == []  # staff are not shown it again
    with pytest.raises(AlarmError):
        await site.alarms.cancel(record.id, site.raiser)  # only once
    resolved = await site.alarms.resolve(record.id, "Wache")
    assert resolved.state is AlarmState.RESOLVED


async def test_alarms_raised_together_share_one_commit(db: Database, site: Site) -> None:
    import asyncio

    from sqlalchemy import event

    commits: list[int] = []
    event.listen(db.engine.sync_engine, "commit", lambda _conn: commits.append(1))
    messages = [alarm() for _ in range(40)]
    results = await asyncio.gather(*(site.alarms.store(m, site.raiser, "A") for m in messages))
    assert all(created for _, created in results)
    assert {record.id for record, _ in results} == {m.alarm_id for m in messages}
    assert len(commits) <= 3, f"{len(commits)} commits for 40 alarms: no group commit"
    assert len(await site.alarms.open_alarms()) == 40


async def test_a_batch_stores_a_repeated_id_once_and_refuses_only_the_bad_alarm(
    site: Site,
) -> None:
    import asyncio

    other = await site.authenticator.authenticate_workstation("pc-b", "token-pc-b")
    assert other is not None
    taken, _ = await site.alarms.store(alarm(), site.raiser, "A")
    twice = alarm()
    results = await asyncio.gather(
        site.alarms.store(twice, site.raiser, "A"),
        site.alarms.store(twice, site.raiser, "A"),
        site.alarms.store(alarm(alarm_id=taken.id), other, "B"),  # a foreign alarm id
        site.alarms.store(alarm(), other, "B"),
        return_exceptions=True,
    )
    first, second, foreign, fine = results
    assert isinstance(first, tuple)
    assert first[1] is True
    assert isinstance(second, tuple)
    assert second[1] is False
    assert isinstance(foreign, AlarmError)
    assert foreign.code == "not_allowed"
    assert isinstance(fine, tuple)
    assert fine[1] is True
    assert len(await site.alarms.open_alarms()) == 3


async def test_a_self_test_goes_to_its_raiser_only_and_passes_on_the_receipt(site: Site) -> None:
    record, _ = await site.alarms.store(alarm(kind=AlarmKind.SELF_TEST), site.raiser, "Frau A")
    assert [r.workstation_id for r in record.recipients] == ["pc-a"]
    assert record.cancel_window_s == 0
    assert await site.alarms.open_alarms() == []  # never on the console's alarm list

    outcome = await site.alarms.record_receipts({(record.id, "pc-a")})
    assert set(outcome.self_tests_passed) == {"pc-a"}
    stored = await site.alarms.get(record.id)
    assert stored is not None
    assert stored.state is AlarmState.RESOLVED
    view = await site.authenticator.authenticate_workstation("pc-a", "token-pc-a")
    assert view is not None
    assert view.self_test_ok is True


async def test_a_self_test_without_its_echo_confirmed_fails_after_the_timeout(site: Site) -> None:
    await site.alarms.store(alarm(kind=AlarmKind.SELF_TEST), site.raiser, "Frau A")
    assert await site.alarms.expire_self_tests(utc_now()) == []  # not overdue yet
    later = utc_now() + SELF_TEST_TIMEOUT + timedelta(seconds=1)
    (failed,) = await site.alarms.expire_self_tests(later)
    assert (failed.workstation_id, failed.ok) == ("pc-a", False)
    assert await site.alarms.expire_self_tests(later) == []  # closed once
    view = await site.authenticator.authenticate_workstation("pc-a", "token-pc-a")
    assert view is not None
    assert view.self_test_ok is False


async def test_arrival_and_the_report_are_kept_with_the_alarm(site: Site) -> None:
    record, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    arrived = await site.alarms.arrive(record.id, "Wache")
    assert (arrived.state, arrived.arrived_by) == (AlarmState.ARRIVED, "Wache")
    acknowledged = await site.alarms.acknowledge(record.id, "Leitung")
    assert (acknowledged.state, acknowledged.acknowledged_by) == (AlarmState.ARRIVED, "Leitung")
    report = IncidentReport(assessed_level=AlarmLevel.THREAT, house_ban=True)
    resolved = await site.alarms.resolve(record.id, "Wache", report)
    assert (resolved.state, resolved.report) == (AlarmState.RESOLVED, report)


async def test_a_self_test_cannot_be_answered_or_resolved_by_hand(site: Site) -> None:
    record, _ = await site.alarms.store(alarm(kind=AlarmKind.SELF_TEST), site.raiser, "Frau A")
    with pytest.raises(AlarmError):
        await site.alarms.resolve(record.id, "Wache")
    with pytest.raises(AlarmError):
        await site.alarms.record_answer(record.id, "pc-a", Answer.COMING, "Frau A")


async def test_an_alarm_announced_from_memory_is_stored_as_announced(site: Site) -> None:
    """Routed ahead of its transaction (its popups go out meanwhile): the commit stores
    exactly that alarm, once, with one audit event."""
    await site.alarms.routing.refresh()
    message = alarm()
    announced = await site.alarms.announce(message, site.raiser, "Frau A")
    assert announced is not None
    assert {r.workstation_id for r in announced.record.recipients} == {"pc-b", "pc-s"}
    assert await site.alarms.get(message.alarm_id) is None
    record, created = await site.alarms.store(message, site.raiser, "Frau A", announced)
    assert created
    assert record == announced.record
    assert await site.alarms.announce(message, site.raiser, "Frau A") is None, "stored"
    stored = await site.alarms.get(message.alarm_id)
    assert stored is not None
    assert stored.stored_at == announced.record.stored_at
    assert {r.workstation_id for r in stored.recipients} == {"pc-b", "pc-s"}
    async with site.db.read() as session:
        raised = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "alarm_raised", AuditEvent.alarm_id == str(record.id))
        )
    assert raised == 1
    # A retry of the stored alarm, announced again or not, is a duplicate.
    again, created = await site.alarms.store(message, site.raiser, "Frau A", announced)
    assert not created
    assert again.id == record.id


async def test_only_plain_alarms_are_announced(site: Site) -> None:
    """Drills and self-tests are routed in their transaction (it reads the store)."""
    await site.alarms.routing.refresh()
    for kind in (AlarmKind.DRILL, AlarmKind.SELF_TEST):
        assert await site.alarms.announce(alarm(kind=kind), site.raiser, "Frau A") is None
    assert await site.alarms.announce(alarm(), site.raiser, "Frau A") is not None


async def test_an_announced_alarm_keeps_everyone_told_when_the_topology_moved(
    site: Site,
) -> None:
    """Rooms A and B are kept apart after the announcement: routed again, B's PC would not
    be told, but it was, so it stays a recipient (and hears how the alarm ends)."""
    await site.alarms.routing.refresh()
    message = alarm()
    announced = await site.alarms.announce(message, site.raiser, "Frau A")
    assert announced is not None
    async with site.db.read() as session:
        rooms = {
            number: room_id
            for number, room_id in await session.execute(select(Room.number, Room.id))
        }
    await set_room_link(
        site.db, ACTOR, rooms["A"], rooms["B"], RoomLinkKind.EXCLUDE, scope=EVERY_SITE
    )
    await set_room_link(site.db, ACTOR, rooms["A"], rooms["C"], RoomLinkKind.LINK, scope=EVERY_SITE)
    # The snapshot in memory is older than the store's topology now: nothing is announced
    # from it (an alarm must name the room its PC is in now).
    assert await site.alarms.announce(alarm(), site.raiser, "Frau A") is None
    record, created = await site.alarms.store(message, site.raiser, "Frau A", announced)
    assert created
    assert {r.workstation_id for r in record.recipients} == {"pc-b", "pc-c", "pc-s"}
    stored = await site.alarms.get(message.alarm_id)
    assert stored is not None
    assert {r.workstation_id for r in stored.recipients} == {"pc-b", "pc-c", "pc-s"}


async def test_receipts_for_an_alarm_not_stored_yet_wait_for_its_row(site: Site) -> None:
    """Its popup went out before the commit: a receipt that comes first is kept (held), not
    written to nothing, and goes with the first batch after the alarm is stored."""
    queue = ReceiptQueue(site.alarms.record_receipts)
    stored, _ = await site.alarms.store(alarm(), site.raiser, "Frau A")
    pending = alarm()
    queue.hold(pending.alarm_id)
    queue.add(pending.alarm_id, "pc-b")
    queue.add(stored.id, "pc-b")
    await asyncio.wait_for(queue.due(), 5)
    assert (await queue.write()).changed == {stored.id}
    assert queue.holds(pending.alarm_id, "pc-b"), "waiting: not answered with a re-send"
    due = asyncio.ensure_future(queue.due())
    await asyncio.sleep(0.1)
    assert not due.done(), "nothing to write while the only receipt is held"

    await site.alarms.store(pending, site.raiser, "Frau A")
    queue.release(pending.alarm_id)
    await asyncio.wait_for(due, 5)
    assert (await queue.write()).changed == {pending.alarm_id}
    record = await site.alarms.get(pending.alarm_id)
    assert record is not None
    assert [r.workstation_id for r in record.recipients if r.received] == ["pc-b"]
