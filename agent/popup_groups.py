"""Colleagues' alarms grouped per raiser, one popup each: the rules, without Qt.

One PC may raise hundreds of alarms in a second (a stuck key, a script, an
attacker on the LAN). Each alarm is still confirmed to the hub (a receipt once
its popup is on screen) and answered one by one, but a colleague's screen shows
one popup per raiser, counting its open alarms ("3 Alarme aus Raum 1.01") at the
highest level among them. The raiser is what the alarm message says about it:
room and name as the hub sent them. A level-3 warning to staff names neither,
so all such warnings share one popup: they all say the same, lock your door.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from shared.domain import AlarmKind, AlarmLevel, AlarmState, Answer, Instruction
from shared.protocol import AlarmNotify, AlarmUpdate, Responder

GroupKey = tuple[AlarmKind, bool, str | None, str | None, str | None]
"""Kind (a drill never joins a real alarm), stay-away, room number, building, raiser name."""


def group_key(notify: AlarmNotify) -> GroupKey:
    room = notify.room
    return (
        notify.kind,
        notify.instruction is Instruction.STAY_AWAY,
        room.number if room else None,
        room.building if room else None,
        notify.raiser,
    )


class Step(StrEnum):
    """Where one alarm of a group stands with this person."""

    OPEN = "open"  # not answered yet: the popup asks and rings
    COMING = "coming"  # "Ich komme": silent, waits for "Bin da"
    DONE = "done"  # "Kann nicht", "Verstanden", "Bin da" or the window closed


class Phase(StrEnum):
    """What the group's popup offers."""

    ASK = "ask"  # "Ich komme" / "Kann nicht" (or "Verstanden")
    ON_THE_WAY = "on_the_way"  # "Bin da"
    CLOSED = "closed"  # no window: every alarm answered or withdrawn


class StepMemory(Protocol):
    """Where the steps are kept across an agent restart (agent/answer_memory.py)."""

    def recall(self, alarm_id: uuid.UUID) -> str | None: ...
    def remember(self, alarm_id: uuid.UUID, step: str) -> None: ...
    def forget(self, alarm_id: uuid.UUID) -> None: ...


@dataclass
class Member:
    notify: AlarmNotify
    step: Step = Step.OPEN
    receipted: bool = False


@dataclass
class Sends:
    """What to send to the hub, in order: receipts and answers, one per alarm."""

    receipts: list[uuid.UUID] = field(default_factory=list)
    answers: list[tuple[uuid.UUID, Answer]] = field(default_factory=list)


@dataclass
class PopupGroup:
    """The open alarms of one raiser (members) and its withdrawn ones awaiting the resolve."""

    key: GroupKey
    members: dict[uuid.UUID, Member] = field(default_factory=dict)
    withdrawn: dict[uuid.UUID, AlarmNotify] = field(default_factory=dict)
    responders: dict[uuid.UUID, list[Responder]] = field(default_factory=dict)
    shown: bool = False  # the current window has been on screen (receipts go out at once)
    sample: AlarmNotify | None = None  # what the all-clear names (room, stay-away)

    @property
    def count(self) -> int:
        return len(self.members)

    @property
    def top(self) -> AlarmNotify:
        """The alarm the popup shows: the highest level, the first of them (level 3 wins)."""
        first = max(self.members.values(), key=lambda m: m.notify.level)
        return first.notify

    @property
    def phase(self) -> Phase:
        steps = {member.step for member in self.members.values()}
        if Step.OPEN in steps:
            return Phase.ASK
        return Phase.ON_THE_WAY if Step.COMING in steps else Phase.CLOSED

    @property
    def ringing_level(self) -> AlarmLevel | None:
        levels = [m.notify.level for m in self.members.values() if m.step is Step.OPEN]
        return max(levels) if levels else None

    def coming_names(self) -> list[Responder]:
        """Everyone who answered any of these alarms, once per name (the latest answer)."""
        by_name: dict[str, Responder] = {}
        for alarm_id in self.members:
            for responder in self.responders.get(alarm_id, []):
                by_name[responder.name] = responder
        return list(by_name.values())

    def _at(self, step: Step) -> list[uuid.UUID]:
        return [alarm_id for alarm_id, m in self.members.items() if m.step is step]


@dataclass(frozen=True)
class Added:
    group: PopupGroup
    sends: Sends
    new: bool  # a new alarm for this group (False: the hub sent a known one again)
    present: bool  # bring the window up (it asks or waits for "Bin da")
    recalled: bool = False  # answered before the agent restarted (agent/answer_memory.py)


@dataclass(frozen=True)
class Updated:
    group: PopupGroup
    all_clear: AlarmState | None  # the group is over: resolved, or cancelled (withdrawn)


class PopupGroups:
    """Every raiser's group; the Qt shell (agent/popup.py) draws one window per group."""

    def __init__(self, memory: StepMemory | None = None) -> None:
        self.groups: dict[GroupKey, PopupGroup] = {}
        self._group_of: dict[uuid.UUID, GroupKey] = {}
        self._settled: set[uuid.UUID] = set()  # withdrawn or resolved: a re-send gets a receipt
        self._memory = memory

    def add(self, notify: AlarmNotify) -> Added | Sends:
        """A colleague's alarm; only a receipt (``Sends``) for one withdrawn or resolved."""
        alarm_id = notify.alarm_id
        if alarm_id in self._settled:
            return Sends(receipts=[alarm_id])
        key = self._group_of.get(alarm_id) or group_key(notify)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = PopupGroup(key)
        group.sample = group.sample or notify
        group.responders[alarm_id] = notify.responders
        member = group.members.get(alarm_id)
        if member is not None:  # the hub re-sends open alarms on every reconnect
            return Added(group, Sends(receipts=[alarm_id]), False, member.step is not Step.DONE)
        sends = Sends()
        coming = [group.members[i].notify.level for i in group._at(Step.COMING)]
        member = Member(notify)
        recalled = self._recall(alarm_id)
        if recalled is not None:
            # Answered before this agent restarted: neither asked nor rung again. It was
            # on screen then, so it is confirmed at once; "Bin da" is still offered.
            member.step, member.receipted = recalled, True
            sends.receipts.append(alarm_id)
        elif group.phase is Phase.ON_THE_WAY and notify.level <= max(coming):
            # On the way to this raiser already: this alarm is answered the same way.
            # A higher level asks again, with its own instruction (level 3: police first).
            member.step = Step.COMING
            sends.answers.append((alarm_id, Answer.COMING))
            self._remember(alarm_id, Step.COMING)
        if group.phase is Phase.CLOSED:
            group.shown = False  # a new window opens and confirms once it is on screen
        group.members[alarm_id] = member
        self._group_of[alarm_id] = key
        if group.shown and not member.receipted:
            member.receipted = True
            sends.receipts.append(alarm_id)
        return Added(group, sends, True, group.phase is not Phase.CLOSED, recalled is not None)

    def shown(self, key: GroupKey) -> list[uuid.UUID]:
        """The group's window is on screen: receipts for every alarm not yet confirmed."""
        group = self.groups.get(key)
        if group is None:
            return []
        group.shown = True
        fresh = [alarm_id for alarm_id, m in group.members.items() if not m.receipted]
        for alarm_id in fresh:
            group.members[alarm_id].receipted = True
        return fresh

    def answer(self, key: GroupKey, answer: Answer | None) -> Sends:
        """The person answered the popup: each alarm it asked about gets the answer.

        "Ich komme" and "Kann nicht" answer the open ones, "Bin da" those on the way;
        ``None`` ("Verstanden", or the window closed) ends all of them, sending nothing.
        """
        group = self.groups.get(key)
        sends = Sends()
        if group is None:
            return sends
        if answer is Answer.ARRIVED:
            asked, then = group._at(Step.COMING), Step.DONE
        elif answer is Answer.COMING:
            asked, then = group._at(Step.OPEN), Step.COMING
        elif answer is Answer.CANNOT:
            asked, then = group._at(Step.OPEN), Step.DONE
        else:
            asked, then = group._at(Step.OPEN) + group._at(Step.COMING), Step.DONE
        for alarm_id in asked:
            group.members[alarm_id].step = then
            self._remember(alarm_id, then)
            if answer is not None:
                sends.answers.append((alarm_id, answer))
        return sends

    def update(self, update: AlarmUpdate) -> Updated | None:
        """Apply the hub's update; None if no group of ours knows the alarm.

        A withdrawn or resolved alarm leaves its group. When none is left open the
        popup closes and the group's all-clear is due: "withdrawn" while a withdrawn
        one still awaits its resolve, else "resolved" (then the group is forgotten).
        """
        alarm_id = update.alarm_id
        key = self._group_of.get(alarm_id)
        group = self.groups.get(key) if key is not None else None
        if group is None:
            return None
        if update.state not in (AlarmState.RESOLVED, AlarmState.CANCELLED):
            group.responders[alarm_id] = update.responders
            return Updated(group, None)
        if update.state is AlarmState.CANCELLED and alarm_id in group.withdrawn:
            return Updated(group, None)  # told twice
        member = group.members.pop(alarm_id, None)
        group.responders.pop(alarm_id, None)
        self._settled.add(alarm_id)
        if self._memory is not None:
            self._memory.forget(alarm_id)  # ended: the hub sends it no more
        was_withdrawn = group.withdrawn.pop(alarm_id, None) is not None
        if update.state is AlarmState.CANCELLED and member is not None:
            group.withdrawn[alarm_id] = member.notify
        else:
            self._group_of.pop(alarm_id, None)
        # Over when this update took the last open alarm, or resolved the last withdrawn one.
        over = (member is not None or was_withdrawn) and not group.members
        if not over or (was_withdrawn and group.withdrawn):
            return Updated(group, None)
        if group.withdrawn:
            return Updated(group, AlarmState.CANCELLED)
        del self.groups[group.key]
        return Updated(group, AlarmState.RESOLVED)

    def ringing_level(self) -> AlarmLevel | None:
        """The one tone to play: the highest level anyone still has to answer."""
        levels = [g.ringing_level for g in self.groups.values()]
        found = [level for level in levels if level is not None]
        return max(found) if found else None

    def group_of(self, alarm_id: uuid.UUID) -> PopupGroup | None:
        key = self._group_of.get(alarm_id)
        return self.groups.get(key) if key is not None else None

    def knows(self, alarm_id: uuid.UUID) -> bool:
        return alarm_id in self._group_of or alarm_id in self._settled

    def _recall(self, alarm_id: uuid.UUID) -> Step | None:
        step = self._memory.recall(alarm_id) if self._memory is not None else None
        return Step(step) if step in (Step.COMING, Step.DONE) else None

    def _remember(self, alarm_id: uuid.UUID, step: Step) -> None:
        if self._memory is not None:
            self._memory.remember(alarm_id, step.value)
