"""When the "Nicht geschützt" window shows; Qt-free, driven by the caller's clock.

The window names what is broken and asks the employee to tell IT. It shows
once a reason has lasted ``delay`` seconds (a reconnect of a second or two
shows nothing), stays while the PC is unprotected, comes back ``reminder``
seconds after the employee closed it, and goes when the PC is protected again.
It never flashes or beeps: a visitor may be sitting across the desk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agent.feedback import REASON_ORDER, Reason
from agent.i18n import Language, text


@dataclass(frozen=True)
class Decision:
    """What the shell does now: show (or keep) the window or hide it, and when to ask again."""

    visible: bool
    wake_in: float | None  # seconds until poll must run again; None: only on a change


class NotProtectedNotice:
    def __init__(self, *, delay: float, reminder: float) -> None:
        if reminder <= 0:
            raise ValueError("reminder must be positive")
        self.delay = delay
        self.reminder = reminder
        self.reasons: frozenset[Reason] = frozenset()
        self._since: float | None = None  # unprotected since (None: protected)
        self._closed_at: float | None = None  # the employee closed the window then

    def changed(self, reasons: frozenset[Reason], now: float) -> Decision:
        """The set of reasons now; an empty set hides the window and forgets a close."""
        self.reasons = reasons
        if not reasons:
            self._since = self._closed_at = None
        elif self._since is None:
            self._since = now
        return self.poll(now)

    def closed(self, now: float) -> Decision:
        """The employee closed the window: it returns after ``reminder`` seconds."""
        if self._since is not None:
            self._closed_at = now
        return self.poll(now)

    def poll(self, now: float) -> Decision:
        if self._since is None:
            return Decision(visible=False, wake_in=None)
        if self._closed_at is not None:
            due = self._closed_at + self.reminder
        else:
            due = self._since + self.delay
        if now >= due:
            self._closed_at = None
            return Decision(visible=True, wake_in=None)
        return Decision(visible=False, wake_in=due - now)


def reason_text(reason: str, language: Language, hotkey: str) -> str:
    """One reason in words; an unknown value (a newer agent's) is shown as it is."""
    try:
        known = Reason(reason)
    except ValueError:
        return reason
    return text(f"reason.{known.value}", language, hotkey=hotkey)


def reason_lines(reasons: Iterable[str], language: Language, hotkey: str) -> list[str]:
    """ "Nicht geschützt: …" once per reason, in the order the window and status show them."""
    values = list(reasons)
    known = [r.value for r in REASON_ORDER if r.value in values]
    rest = [r for r in values if r not in known]
    return [
        text("notprot.line", language, reason=reason_text(r, language, hotkey))
        for r in [*known, *rest]
    ]
