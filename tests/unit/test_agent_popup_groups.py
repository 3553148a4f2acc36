"""One popup per raiser (agent/popup_groups.py): counts, the highest level, answers for each."""

from __future__ import annotations

import uuid

from agent.popup_groups import Added, Phase, PopupGroup, PopupGroups, Sends, group_key
from agent.popup_text import count_line
from shared.domain import AlarmKind, AlarmLevel, AlarmState, Answer, Instruction
from shared.protocol import AlarmNotify, AlarmUpdate, Responder, RoomRef, utc_now

ROOM = RoomRef(number="1.01", name="Beratung 1", floor="1. OG", building="Haus A")
OTHER = RoomRef(number="1.04", name="Leistung", floor="1. OG", building="Haus A")


def notify(
    level: AlarmLevel = AlarmLevel.THREAT,
    room: RoomRef | None = ROOM,
    raiser: str | None = "Frau Albers",
    instruction: Instruction = Instruction.COME_HELP,
    kind: AlarmKind = AlarmKind.ALARM,
) -> AlarmNotify:
    return AlarmNotify(
        alarm_id=uuid.uuid4(),
        level=level,
        kind=kind,
        instruction=instruction,
        room=room,
        raiser=raiser,
        raised_at=utc_now(),
    )


def added(groups: PopupGroups, message: AlarmNotify) -> Added:
    result = groups.add(message)
    assert isinstance(result, Added)
    return result


def add_all(groups: PopupGroups, messages: list[AlarmNotify]) -> PopupGroup:
    """Adds one raiser's alarms; their group."""
    groups_seen = {added(groups, message).group.key for message in messages}
    assert len(groups_seen) == 1
    return groups.groups[groups_seen.pop()]


def update(message: AlarmNotify, state: AlarmState, *responders: Responder) -> AlarmUpdate:
    return AlarmUpdate(alarm_id=message.alarm_id, state=state, responders=list(responders))


def test_a_flood_from_one_raiser_is_one_group_counting_every_alarm() -> None:
    groups = PopupGroups()
    flood = [notify() for _ in range(200)]
    results = [added(groups, message) for message in flood]
    assert [r.new for r in results] == [True] * 200
    assert len(groups.groups) == 1
    (group,) = groups.groups.values()
    assert group.count == 200
    assert count_line(group.top, group.count, "de") == "200 Alarme aus Raum 1.01"
    assert count_line(group.top, group.count, "en") == "200 alarms from room 1.01"
    assert count_line(group.top, 1, "de") is None  # one alarm: the popup as it always was


def test_other_raisers_rooms_drills_and_stay_away_warnings_get_their_own_popups() -> None:
    groups = PopupGroups()
    for message in (
        notify(),
        notify(raiser="Herr Becker"),  # another person in the same room
        notify(room=OTHER),
        notify(kind=AlarmKind.DRILL),  # a drill never joins a real alarm
        notify(AlarmLevel.DANGER, None, None, Instruction.STAY_AWAY),
        notify(AlarmLevel.DANGER, None, None, Instruction.STAY_AWAY),
    ):
        added(groups, message)
    assert sorted(g.count for g in groups.groups.values()) == [1, 1, 1, 1, 2]
    # Level 3 to staff names neither room nor raiser: all such warnings share one popup.
    stay_away = groups.groups[
        group_key(notify(AlarmLevel.DANGER, None, None, Instruction.STAY_AWAY))
    ]
    assert stay_away.count == 2
    assert count_line(stay_away.top, 2, "de") == "2 Alarme"


def test_the_highest_level_is_shown_and_its_instruction_wins() -> None:
    groups = PopupGroups()
    added(groups, notify(AlarmLevel.SUPPORT))
    danger = notify(AlarmLevel.DANGER, instruction=Instruction.SECURE_AND_CALL_POLICE)
    group = added(groups, danger).group
    added(groups, notify(AlarmLevel.THREAT))
    assert group.top == danger
    assert groups.ringing_level() is AlarmLevel.DANGER
    groups.update(update(danger, AlarmState.RESOLVED))
    assert group.top.level is AlarmLevel.THREAT  # a level that left no longer counts


def test_receipts_per_alarm_once_the_window_is_on_screen() -> None:
    groups = PopupGroups()
    first, second, third = notify(), notify(), notify()
    key = added(groups, first).group.key
    assert added(groups, second).sends.receipts == []  # the window is not mapped yet
    assert groups.shown(key) == [first.alarm_id, second.alarm_id]
    assert added(groups, third).sends.receipts == [third.alarm_id]  # on screen: at once
    assert groups.shown(key) == []
    again = added(groups, first)  # the hub re-sends on reconnect: confirmed again, not counted
    assert (again.new, again.sends.receipts, again.group.count) == (False, [first.alarm_id], 3)


def test_ich_komme_then_bin_da_answer_every_alarm_of_the_group() -> None:
    groups = PopupGroups()
    flood = [notify() for _ in range(3)]
    key = add_all(groups, flood).key
    coming = groups.answer(key, Answer.COMING)
    assert coming.answers == [(m.alarm_id, Answer.COMING) for m in flood]
    assert groups.groups[key].phase is Phase.ON_THE_WAY
    assert groups.ringing_level() is None  # one click silences the whole group
    arrived = groups.answer(key, Answer.ARRIVED)
    assert arrived.answers == [(m.alarm_id, Answer.ARRIVED) for m in flood]
    assert groups.groups[key].phase is Phase.CLOSED


def test_kann_nicht_answers_each_and_closes_the_popup() -> None:
    groups = PopupGroups()
    flood = [notify() for _ in range(3)]
    key = add_all(groups, flood).key
    assert groups.answer(key, Answer.CANNOT).answers == [(m.alarm_id, Answer.CANNOT) for m in flood]
    assert groups.groups[key].phase is Phase.CLOSED
    later = added(groups, notify())  # the raiser presses again: the popup comes back
    assert later.present
    assert later.group.phase is Phase.ASK
    assert later.group.count == 4


def test_on_the_way_a_repeat_is_answered_too_but_a_higher_level_asks_again() -> None:
    groups = PopupGroups()
    key = added(groups, notify(AlarmLevel.THREAT)).group.key
    groups.answer(key, Answer.COMING)
    repeat = notify(AlarmLevel.SUPPORT)
    assert added(groups, repeat).sends.answers == [(repeat.alarm_id, Answer.COMING)]
    assert groups.groups[key].phase is Phase.ON_THE_WAY
    danger = notify(AlarmLevel.DANGER, instruction=Instruction.SECURE_AND_CALL_POLICE)
    assert added(groups, danger).sends.answers == []
    assert groups.groups[key].phase is Phase.ASK
    assert groups.ringing_level() is AlarmLevel.DANGER
    assert groups.answer(key, Answer.COMING).answers == [(danger.alarm_id, Answer.COMING)]


def test_closing_or_verstanden_ends_the_group_and_sends_nothing() -> None:
    groups = PopupGroups()
    warnings = [notify(AlarmLevel.DANGER, None, None, Instruction.STAY_AWAY) for _ in range(2)]
    key = add_all(groups, warnings).key
    assert groups.answer(key, None) == Sends()
    assert groups.groups[key].phase is Phase.CLOSED
    assert groups.ringing_level() is None
    again = groups.add(warnings[0])  # a re-send of an answered alarm: a receipt, no window
    assert isinstance(again, Added)
    assert (again.present, again.sends.receipts) == (False, [warnings[0].alarm_id])


def test_resolved_alarms_leave_and_the_last_one_brings_one_all_clear() -> None:
    groups = PopupGroups()
    flood = [notify() for _ in range(3)]
    group = add_all(groups, flood)
    for message in flood[:2]:
        result = groups.update(update(message, AlarmState.RESOLVED))
        assert result is not None
        assert result.all_clear is None
    assert group.count == 1
    last = groups.update(update(flood[2], AlarmState.RESOLVED))
    assert last is not None
    assert last.all_clear is AlarmState.RESOLVED
    assert groups.groups == {}
    assert groups.knows(flood[0].alarm_id)  # an update told again is ours, opens nothing
    repeated = groups.update(update(flood[2], AlarmState.RESOLVED))
    assert repeated is None
    assert groups.add(flood[0]) == Sends(receipts=[flood[0].alarm_id])


def test_withdrawn_alarms_bring_the_withdrawn_notice_then_the_resolve_the_all_clear() -> None:
    groups = PopupGroups()
    first, second = notify(), notify()
    added(groups, first)
    added(groups, second)
    after_first = groups.update(update(first, AlarmState.CANCELLED))
    assert after_first is not None
    assert after_first.all_clear is None  # the second is still open
    after_second = groups.update(update(second, AlarmState.CANCELLED))
    assert after_second is not None
    assert after_second.all_clear is AlarmState.CANCELLED
    assert groups.update(update(second, AlarmState.CANCELLED)) is not None  # told twice
    resolved_first = groups.update(update(first, AlarmState.RESOLVED))
    assert resolved_first is not None
    assert resolved_first.all_clear is None  # the second still awaits security's resolve
    resolved_second = groups.update(update(second, AlarmState.RESOLVED))
    assert resolved_second is not None
    assert resolved_second.all_clear is AlarmState.RESOLVED
    assert groups.groups == {}


def test_who_is_coming_is_gathered_from_every_alarm_of_the_group() -> None:
    groups = PopupGroups()
    first, second = notify(), notify()
    group = added(groups, first).group
    added(groups, second)
    becker = Responder(name="Herr Becker", answer=Answer.COMING)
    weber = Responder(name="Frau Weber", answer=Answer.COMING)
    groups.update(update(first, AlarmState.ACTIVE, becker))
    groups.update(update(second, AlarmState.ACTIVE, becker, weber))
    assert [r.name for r in group.coming_names()] == ["Herr Becker", "Frau Weber"]
