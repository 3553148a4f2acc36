"""Domain vocabulary both sides agree on: alarm levels, triggers, answers, states, roles."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class AlarmLevel(IntEnum):
    """Escalation levels after the Aachener Modell (Gefährdungsstufen)."""

    SUPPORT = 1  # verbal aggression: "come and support your colleague"
    THREAT = 2  # threat, coercion, damage: "come to the room", escalates
    DANGER = 3  # weapon or attack: "do NOT come — lock your door"


class Trigger(StrEnum):
    """How the raiser set the alarm off; kept for the incident report."""

    HOTKEY = "hotkey"
    TRAY = "tray"
    CLI = "cli"
    SCHEDULE = "schedule"  # the agent's own timer: self-tests


class Instruction(StrEnum):
    """What a recipient is told to do. Level 3 never sends colleagues to the room."""

    COME_HELP = "come_help"  # levels 1-2: go to the room and support
    STAY_AWAY = "stay_away"  # level 3, staff: lock your door, stay away, no location
    SECURE_AND_CALL_POLICE = "secure_and_call_police"  # level 3, security: location + police


class Answer(StrEnum):
    """A recipient's human answer to an alarm popup."""

    COMING = "coming"  # "Ich komme"
    CANNOT = "cannot"  # "Kann nicht"
    ARRIVED = "arrived"  # "Bin da": a responder who said "Ich komme" is at the room


class AlarmState(StrEnum):
    """Lifecycle of an alarm as the hub sees it."""

    ACTIVE = "active"  # stored and fanned out, nobody has taken it yet
    ACKNOWLEDGED = "acknowledged"  # an operator has taken it
    ARRIVED = "arrived"  # help is at the room (a responder or an operator said so)
    CANCELLED = "cancelled"  # the raiser withdrew it in time; security still follows up
    RESOLVED = "resolved"  # all-clear


class AlarmKind(StrEnum):
    """Real alarms, drills and self-tests run the same path and are never mixed up."""

    ALARM = "alarm"
    DRILL = "drill"  # "ÜBUNG": only inside a scheduled drill, only to the drill's circle
    SELF_TEST = "self_test"  # the agent's own end-to-end check: echoed back to it, nobody else


class RaiserFeedback(StrEnum):
    """How much the raiser's discreet tray state tells about the responders."""

    NONE = "none"  # only stored / resolved
    COUNT = "count"  # "2 kommen"
    NAMES = "names"  # "Kommt: A. Schmidt, B. Yilmaz"


class WorkstationRole(StrEnum):
    """Security workstations get the location at every level."""

    STAFF = "staff"
    SECURITY = "security"


class OperatorRole(StrEnum):
    """What a console operator may do; the console and the admin API carry it."""

    GUARD = "guard"  # the alarm console
    EMERGENCY_MANAGER = "emergency_manager"  # threats and worse, statistics, drills
    ADMIN = "admin"  # everything, set-up included


class OperatorSource(StrEnum):
    """Where an operator's login is checked (issue 19)."""

    LOCAL = "local"  # the password's argon2 hash on the hub
    DIRECTORY = "directory"  # an LDAP bind; role and sites from the directory's groups


class WorkstationState(StrEnum):
    """Where a PC stands between enrolment and revocation."""

    PENDING = "pending"  # enrolled, waiting for an admin to assign a room
    ACTIVE = "active"
    REVOKED = "revoked"  # its secret no longer opens a connection


class RoomLinkKind(StrEnum):
    """An admin's word on two rooms, whatever the distance rule says."""

    LINK = "link"  # neighbours (a connecting door)
    EXCLUDE = "exclude"  # never neighbours (a fire wall, another unit)
