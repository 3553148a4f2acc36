"""Answers to colleagues' alarms survive an agent restart (agent/answer_memory.py).

Before, a restarted agent asked again, ringing, about every open alarm its person
had already answered: the hub re-sends open alarms on every connect.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from agent.answer_memory import KEEP_S, AnswerMemory
from agent.popup_groups import Phase, PopupGroups, Step
from shared.domain import AlarmState, Answer
from tests.unit.test_agent_popup_groups import added, notify, update


def test_steps_are_kept_across_a_reopen_and_forgotten_on_request(tmp_path: Path) -> None:
    alarm_id = uuid.uuid4()
    memory = AnswerMemory(tmp_path)
    memory.remember(alarm_id, "coming")
    memory.remember(alarm_id, "done")  # the latest step wins
    memory.close()
    again = AnswerMemory(tmp_path)
    assert again.recall(alarm_id) == "done"
    again.forget(alarm_id)
    assert again.recall(alarm_id) is None


def test_steps_older_than_a_day_are_dropped_when_the_file_is_opened(tmp_path: Path) -> None:
    old, recent = uuid.uuid4(), uuid.uuid4()
    memory = AnswerMemory(tmp_path, clock=lambda: 1_000.0)
    memory.remember(old, "done")
    memory.close()
    later = AnswerMemory(tmp_path, clock=lambda: 1_000.0 + KEEP_S / 2)
    later.remember(recent, "done")
    later.close()
    reopened = AnswerMemory(tmp_path, clock=lambda: 1_001.0 + KEEP_S)
    assert reopened.recall(old) is None
    assert reopened.recall(recent) == "done"


def test_a_folder_it_cannot_write_costs_only_the_memory(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("", encoding="utf-8")
    memory = AnswerMemory(blocked)  # no exception: popups must work without it
    memory.remember(uuid.uuid4(), "done")
    assert memory.recall(uuid.uuid4()) is None


def test_an_alarm_answered_cannot_before_a_restart_is_confirmed_but_neither_asked_nor_rung(
    tmp_path: Path,
) -> None:
    message = notify()
    before = PopupGroups(AnswerMemory(tmp_path))
    key = added(before, message).group.key
    before.shown(key)
    assert before.answer(key, Answer.CANNOT).answers == [(message.alarm_id, Answer.CANNOT)]

    after = PopupGroups(AnswerMemory(tmp_path))  # the agent restarted; the hub re-sends
    result = added(after, message)
    assert result.recalled
    assert not result.present  # no window
    assert result.sends.receipts == [message.alarm_id]  # confirmed again
    assert result.sends.answers == []  # not answered twice
    assert after.ringing_level() is None
    assert result.group.phase is Phase.CLOSED


def test_an_alarm_answered_coming_before_a_restart_still_offers_bin_da(tmp_path: Path) -> None:
    message = notify()
    before = PopupGroups(AnswerMemory(tmp_path))
    key = added(before, message).group.key
    before.answer(key, Answer.COMING)

    after = PopupGroups(AnswerMemory(tmp_path))
    result = added(after, message)
    assert result.present
    assert result.group.phase is Phase.ON_THE_WAY
    assert after.ringing_level() is None
    assert after.answer(result.group.key, Answer.ARRIVED).answers == [
        (message.alarm_id, Answer.ARRIVED)
    ]


def test_a_new_alarm_of_the_same_raiser_after_a_restart_still_asks(tmp_path: Path) -> None:
    answered, new = notify(), notify()
    before = PopupGroups(AnswerMemory(tmp_path))
    before.answer(added(before, answered).group.key, Answer.CANNOT)

    after = PopupGroups(AnswerMemory(tmp_path))
    added(after, answered)
    result = added(after, new)
    assert result.present
    assert result.group.phase is Phase.ASK
    assert result.group.members[new.alarm_id].step is Step.OPEN
    assert after.ringing_level() == new.level


def test_an_ended_alarm_is_forgotten(tmp_path: Path) -> None:
    message = notify()
    memory = AnswerMemory(tmp_path)
    groups = PopupGroups(memory)
    groups.answer(added(groups, message).group.key, Answer.CANNOT)
    assert memory.recall(message.alarm_id) == "done"
    groups.update(update(message, AlarmState.RESOLVED))
    assert memory.recall(message.alarm_id) is None
