"""Arrival, raiser feedback, drills and self-tests through the real hub over real WebSockets."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from shared.domain import AlarmKind, AlarmLevel, AlarmState, Answer
from shared.protocol import (
    AlarmNotify,
    AlarmStored,
    AlarmUpdate,
    Arrive,
    ConsoleAlarmChanged,
    Error,
    ErrorCode,
    IncidentReport,
    Receipt,
    Resolve,
    Respond,
    WorkstationChanged,
    utc_now,
)
from tests.integration.conftest import Connect, eventually, set_policy
from tests.support.consoleclient import connect_console
from tests.support.hub import RunningHub, query
from tests.support.operators import add_operator
from tests.support.wsclient import AgentClient


async def assert_no_alarm_for(client: AgentClient) -> None:
    """Per-peer queues are FIFO: a pong arriving first proves no alarm was queued before it."""
    await client.flush()
    assert not [m for m in client.received if isinstance(m, AlarmNotify)]


SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores UTC times in SQLite


def schedule_drill(hub: RunningHub, scopes: str, minutes: int = 30) -> int:
    now = utc_now()
    with sqlite3.connect(hub.data_dir / "dispatch.sqlite3") as db:
        cursor = db.execute(
            "INSERT INTO drills (site_id, title, starts_at, ends_at, scopes, created_by,"
            " created_at) VALUES (1, 'Räumungsübung', ?, ?, ?, 'admin', ?)",
            (
                f"{now - timedelta(minutes=1):{SQLITE_TIME}}",
                f"{now + timedelta(minutes=minutes):{SQLITE_TIME}}",
                scopes,
                f"{now:{SQLITE_TIME}}",
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid


async def test_a_responder_who_arrives_moves_the_alarm_to_arrived(
    agent: Connect, demo_hub: RunningHub
) -> None:
    raiser, neighbour = await agent("pc-1-01"), await agent("pc-1-02")
    sent = await raiser.raise_alarm(AlarmLevel.THREAT)
    await raiser.expect(AlarmStored)
    await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id)

    await neighbour.send(Respond(alarm_id=sent.alarm_id, answer=Answer.COMING))
    assert (await raiser.expect(AlarmUpdate, state=AlarmState.ACTIVE)).coming == 1
    await neighbour.send(Respond(alarm_id=sent.alarm_id, answer=Answer.ARRIVED))
    update = await raiser.expect(AlarmUpdate, state=AlarmState.ARRIVED)
    assert update.coming == 1  # the one who came is now there, not a second responder

    rows = query(
        demo_hub,
        "SELECT a.state, a.next_escalation_at, r.answer, r.arrived_at IS NOT NULL FROM alarms a"
        " JOIN alarm_recipients r ON r.alarm_id = a.id WHERE r.workstation_id = 'pc-1-02'",
    )
    assert rows == [("arrived", None, "arrived", 1)]


async def test_arrived_is_refused_from_a_recipient_who_did_not_say_coming(
    agent: Connect, demo_hub: RunningHub
) -> None:
    raiser, neighbour = await agent("pc-1-01"), await agent("pc-1-02")
    guard = await agent("pc-e-01")
    sent = await raiser.raise_alarm(AlarmLevel.THREAT)
    await raiser.expect(AlarmStored)
    await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id)
    await guard.expect(AlarmNotify, alarm_id=sent.alarm_id)

    # Nobody said "Ich komme": a "Bin da" straight away is refused in-band …
    jumped = Respond(alarm_id=sent.alarm_id, answer=Answer.ARRIVED)
    await guard.send(jumped)
    error = await guard.expect(Error, reply_to=jumped.id)
    assert error.code is ErrorCode.NOT_ALLOWED
    assert "coming" in error.message
    # … also after "Kann nicht".
    await neighbour.send(Respond(alarm_id=sent.alarm_id, answer=Answer.CANNOT))
    await raiser.expect(AlarmUpdate, state=AlarmState.ACTIVE)
    after_cannot = Respond(alarm_id=sent.alarm_id, answer=Answer.ARRIVED)
    await neighbour.send(after_cannot)
    assert (await neighbour.expect(Error, reply_to=after_cannot.id)).code is ErrorCode.NOT_ALLOWED

    # Nothing was stored: state, answers and the audit trail are as before.
    rows = query(
        demo_hub,
        "SELECT a.state, r.workstation_id, r.answer, r.arrived_at FROM alarms a"
        " JOIN alarm_recipients r ON r.alarm_id = a.id WHERE a.id = ? ORDER BY r.workstation_id",
        str(sent.alarm_id),
    )
    assert rows == [("active", "pc-1-02", "cannot", None), ("active", "pc-e-01", None, None)]
    answered = query(
        demo_hub,
        "SELECT workstation_id FROM audit_events WHERE action = 'alarm_answered' AND alarm_id = ?",
        str(sent.alarm_id),
    )
    assert answered == [("pc-1-02",)]


async def test_the_raiser_is_told_names_only_when_the_policy_says_so(
    agent: Connect, demo_hub: RunningHub
) -> None:
    set_policy(demo_hub.data_dir, 1, ["neighbours", "security"], [], raiser_feedback="names")
    set_policy(demo_hub.data_dir, 2, ["neighbours", "security"], [], raiser_feedback="none")
    raiser, neighbour = await agent("pc-1-01"), await agent("pc-1-02")

    named = await raiser.raise_alarm(AlarmLevel.SUPPORT)
    await neighbour.expect(AlarmNotify, alarm_id=named.alarm_id)
    await neighbour.send(Respond(alarm_id=named.alarm_id, answer=Answer.COMING))
    update = await raiser.expect(AlarmUpdate, alarm_id=named.alarm_id)
    assert [(r.name, r.answer) for r in update.responders] == [("Herr Becker", Answer.COMING)]
    assert update.coming == 1

    silent = await raiser.raise_alarm(AlarmLevel.THREAT)
    await neighbour.expect(AlarmNotify, alarm_id=silent.alarm_id)
    await neighbour.send(Respond(alarm_id=silent.alarm_id, answer=Answer.COMING))
    update = await raiser.expect(AlarmUpdate, alarm_id=silent.alarm_id)
    assert (update.responders, update.coming) == ([], 0)
    # Colleagues still see who is on the way, whatever the raiser is told.
    assert [r.name for r in (await neighbour.expect(AlarmUpdate)).responders] == ["Herr Becker"]


async def test_the_welcome_carries_the_sites_countdown_per_level(
    agent: Connect, demo_hub: RunningHub
) -> None:
    set_policy(demo_hub.data_dir, 1, ["neighbours"], [], cancel_window_s=20, countdown_s=5)
    welcome = (await agent("pc-1-01")).welcome
    by_level = {s.level: (s.countdown_s, s.cancel_window_s) for s in welcome.levels}
    assert by_level[AlarmLevel.SUPPORT] == (5, 20)
    assert by_level[AlarmLevel.THREAT] == (0, 30)  # the default: send at once
    assert set(by_level) == set(AlarmLevel)


async def test_a_drill_alarm_without_a_scheduled_drill_is_refused_and_not_stored(
    agent: Connect, demo_hub: RunningHub
) -> None:
    raiser = await agent("pc-1-01")
    sent = await raiser.raise_alarm(AlarmLevel.THREAT, kind=AlarmKind.DRILL)
    error = await raiser.expect(Error, reply_to=sent.id)
    assert error.code is ErrorCode.NO_DRILL
    assert query(demo_hub, "SELECT count(*) FROM alarms") == [(0,)]


async def test_a_drill_goes_only_where_the_drill_says_and_is_marked(
    agent: Connect, demo_hub: RunningHub
) -> None:
    drill_id = schedule_drill(demo_hub, '["security"]')
    raiser, neighbour, security = [await agent(w) for w in ("pc-1-01", "pc-1-02", "pc-e-01")]
    console = await connect_console(demo_hub)
    try:
        sent = await raiser.raise_alarm(AlarmLevel.THREAT, kind=AlarmKind.DRILL)
        await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
        notify = await security.expect(AlarmNotify, alarm_id=sent.alarm_id)
        assert notify.kind is AlarmKind.DRILL
        changed = await console.expect(ConsoleAlarmChanged, alarm__alarm_id=sent.alarm_id)
        assert changed.alarm.kind is AlarmKind.DRILL
        await assert_no_alarm_for(neighbour)  # the policy's neighbours are not in this drill
        assert query(demo_hub, "SELECT kind, drill_id, next_escalation_at FROM alarms") == [
            ("drill", drill_id, None)
        ]
    finally:
        await console.close()


async def test_a_self_test_echoes_to_the_raiser_only_and_shows_on_the_coverage_board(
    agent: Connect, demo_hub: RunningHub
) -> None:
    console = await connect_console(demo_hub)
    raiser, neighbour = await agent("pc-1-01"), await agent("pc-1-02")
    try:
        sent = await raiser.raise_alarm(AlarmLevel.SUPPORT, kind=AlarmKind.SELF_TEST)
        await raiser.expect(AlarmStored, alarm_id=sent.alarm_id)
        echo = await raiser.expect(AlarmNotify, alarm_id=sent.alarm_id)
        assert echo.kind is AlarmKind.SELF_TEST
        await raiser.send(Receipt(alarm_id=sent.alarm_id))

        passed = await console.expect(
            WorkstationChanged,
            workstation__workstation_id="pc-1-01",
            workstation__self_test_ok=True,
        )
        assert passed.workstation.online
        assert passed.workstation.self_test_at is not None
        await assert_no_alarm_for(neighbour)
        assert not [m for m in console.received if isinstance(m, ConsoleAlarmChanged)]
        await eventually(
            demo_hub,
            "SELECT a.state, w.self_test_ok FROM alarms a JOIN workstations w"
            " ON w.id = a.workstation_id",
            expect=[("resolved", 1)],
        )
    finally:
        await console.close()


async def test_the_console_marks_arrival_and_resolves_with_an_incident_report(
    agent: Connect, demo_hub: RunningHub
) -> None:
    console = await connect_console(demo_hub)
    raiser = await agent("pc-1-01")
    try:
        sent = await raiser.raise_alarm(AlarmLevel.THREAT)
        await console.expect(ConsoleAlarmChanged, alarm__alarm_id=sent.alarm_id)

        await console.send(Arrive(alarm_id=sent.alarm_id))
        arrived = await console.expect(ConsoleAlarmChanged, alarm__state=AlarmState.ARRIVED)
        assert arrived.alarm.arrived_by == "Wache Empfang"
        assert (
            await raiser.expect(AlarmUpdate, state=AlarmState.ARRIVED)
        ).alarm_id == sent.alarm_id

        report = IncidentReport(
            assessed_level=AlarmLevel.SUPPORT, police_called=True, notes="Kunde beruhigt"
        )
        await console.send(Resolve(alarm_id=sent.alarm_id, report=report))
        resolved = await console.expect(ConsoleAlarmChanged, alarm__state=AlarmState.RESOLVED)
        assert resolved.alarm.report == report
        assert query(
            demo_hub,
            "SELECT assessed_level, police_called, notes, written_by FROM incident_reports",
        ) == [(1, 1, "Kunde beruhigt", "Wache Empfang")]
        actions = [a for (a,) in query(demo_hub, "SELECT action FROM audit_events ORDER BY id")]
        assert actions[-3:] == ["alarm_arrived", "alarm_resolved", "incident_report_written"]
    finally:
        await console.close()


async def test_the_coverage_board_hears_when_a_workstation_goes_offline(
    agent: Connect, demo_hub: RunningHub
) -> None:
    console = await connect_console(demo_hub)
    try:
        client = await agent("pc-1-03")
        online = await console.expect(WorkstationChanged, workstation__workstation_id="pc-1-03")
        assert online.workstation.online
        await client.close()
        offline = await console.expect(WorkstationChanged, workstation__workstation_id="pc-1-03")
        assert not offline.workstation.online
    finally:
        await console.close()


async def test_an_emergency_manager_sees_threats_not_level_one(
    agent: Connect, demo_hub: RunningHub
) -> None:
    add_operator(demo_hub, "leitung", "Notfall-Passwort-1", "emergency_manager")
    manager = await connect_console(demo_hub, "leitung", "Notfall-Passwort-1")
    raiser = await agent("pc-1-01")
    try:
        support = await raiser.raise_alarm(AlarmLevel.SUPPORT)
        await raiser.expect(AlarmStored, alarm_id=support.alarm_id)
        threat = await raiser.raise_alarm(AlarmLevel.THREAT)
        seen = await manager.expect(ConsoleAlarmChanged)
        assert seen.alarm.alarm_id == threat.alarm_id  # the level-1 alarm never came first

        await manager.send(Arrive(alarm_id=support.alarm_id))
        refused = await manager.expect(Error)
        assert refused.code is ErrorCode.UNKNOWN_ALARM
    finally:
        await manager.close()


async def test_a_raiser_reconnecting_is_told_as_discreetly_as_before(agent: Connect) -> None:
    raiser, neighbour = await agent("pc-1-01"), await agent("pc-1-02")
    sent = await raiser.raise_alarm(AlarmLevel.THREAT)
    await neighbour.expect(AlarmNotify, alarm_id=sent.alarm_id)
    await neighbour.send(Respond(alarm_id=sent.alarm_id, answer=Answer.COMING))
    await raiser.expect(AlarmUpdate, alarm_id=sent.alarm_id, coming=1)
    await raiser.close()

    again = await agent("pc-1-01")  # the default policy: a count, never names
    replayed = await again.expect(AlarmUpdate, alarm_id=sent.alarm_id)
    assert (replayed.coming, replayed.responders) == (1, [])
