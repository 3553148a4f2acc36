"""The words of the raiser's notice window: one line per alarm, from agent/feedback.py's state."""

from __future__ import annotations

import time

from agent.feedback import AlarmFeedback, Status
from agent.i18n import Language, text

_KEYS = {
    Status.SENT: "feedback.sent",
    Status.NOT_DELIVERED: "tray.not_delivered",
    Status.STORED: "feedback.stored",
    Status.DELIVERED: "feedback.delivered",
    Status.ACKNOWLEDGED: "feedback.acknowledged",
    Status.ARRIVED: "feedback.arrived",
    Status.NOBODY_REACHED: "feedback.nobody_reached",
    Status.RESOLVED: "feedback.resolved",
}


def state_text(alarm: AlarmFeedback, language: Language) -> str:
    """What one alarm's state says, without which alarm it is."""
    if alarm.status is Status.COMING:
        return coming_text(alarm, language)
    if alarm.status in (Status.SENT, Status.NOT_DELIVERED) and alarm.peers and alarm.peers[0]:
        # Only acknowledgements count: "Nachbarn benachrichtigt" must be true (issue 16).
        told, asked = alarm.peers
        return text("feedback.peers_told", language, told=told, asked=asked)
    said = text(_KEYS[alarm.status], language)
    if alarm.status is Status.ACKNOWLEDGED and (alarm.coming or alarm.names):
        said += " · " + coming_text(alarm, language)  # level 1-2: both are reassurance
    return said


def coming_text(alarm: AlarmFeedback, language: Language) -> str:
    if alarm.names:
        return text("feedback.coming_names", language, names=", ".join(alarm.names))
    key = "feedback.coming_one" if alarm.coming == 1 else "feedback.coming_many"
    return text(key, language, count=alarm.coming)


def notice_line(alarm: AlarmFeedback, language: Language) -> str:
    """ "Alarm 14:02: 1 kommt"; a drill says "ÜBUNG" first."""
    state = state_text(alarm, language)
    if not alarm.wall:  # taken up after a restart: when it was raised is not known here
        key = "feedback.line_earlier_drill" if alarm.drill else "feedback.line_earlier"
        return text(key, language, state=state)
    when = time.strftime("%H:%M", time.localtime(alarm.wall))
    key = "feedback.line_drill" if alarm.drill else "feedback.line"
    return text(key, language, time=when, state=state)


def notice_lines(alarms: tuple[AlarmFeedback, ...], language: Language) -> list[str]:
    return [notice_line(alarm, language) for alarm in alarms]
