"""Between a press and the outbox: the site's countdown, then the cancel window; Qt-free.

Every press (hotkey, tray, a ``trigger`` forwarded to the running agent) goes
through ``RaiseControl.request``. With no countdown for its level (the default)
the alarm enters the outbox on the calling thread at once; otherwise the countdown
runs on the Qt thread, and once the hub stored one of our alarms its cancel
window is offered in the tray menu. The state machines are agent/countdown.py's;
what is shown, and the timer and thread hop, are the shell's
(agent/countdown_window.py). Times come from an injected clock.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from agent.countdown import CancelWindows, Countdown, countdowns
from shared.domain import AlarmLevel, AlarmState, Trigger
from shared.protocol import AlarmStored, LevelSettings, RaiseAlarm

log = logging.getLogger(__name__)

Listener = Callable[[RaiseAlarm | None], None]
"""Gets the queued alarm, or None if it was cancelled during the countdown."""


class RaiseShell(Protocol):
    """What ``RaiseControl`` shows and times; called on the Qt thread but call_on_gui_thread."""

    def call_on_gui_thread(self, call: Callable[[], None]) -> None:
        """Run call on the Qt thread: queued from another thread, at once on the Qt thread."""

    def show_countdown(self, seconds: int, on_cancel: Callable[[], None]) -> None:
        """Open the countdown window at seconds left; its "Abbrechen" (Esc) calls on_cancel."""

    def count_down(self, seconds: int) -> None:
        """The open countdown window's seconds left."""

    def hide_countdown(self) -> None: ...

    def offer_cancel(self, seconds: int | None, on_cancel: Callable[[], object] | None) -> None:
        """The tray's "Alarm zurücknehmen (noch N s)", or none (seconds None)."""

    def start_ticking(self, on_tick: Callable[[], None]) -> None:
        """Call on_tick every quarter second until stop_ticking."""

    def stop_ticking(self) -> None: ...


class RaiseControl:
    """The site's countdown before an alarm enters the outbox, the cancel window after it is stored.

    ``request`` may be called from any thread (the hotkey's); everything else
    runs on the Qt thread.
    """

    def __init__(
        self,
        *,
        raise_alarm: Callable[[AlarmLevel, Trigger], RaiseAlarm],
        send_cancel: Callable[[uuid.UUID, bool], None],
        shell: RaiseShell,
        clock: Callable[[], float] = time.monotonic,
        menu_duress: bool = False,
    ) -> None:
        self._raise = raise_alarm
        self._menu_duress = menu_duress  # the tray's withdrawal is a duress cancel (policy)
        self._send_cancel = send_cancel
        self._shell = shell
        self._clock = clock
        self.countdown = Countdown()
        self.cancel_windows = CancelWindows()
        self._countdowns: dict[AlarmLevel, int] = {}
        self._own: set[uuid.UUID] = set()  # alarms raised here (not by `trigger` or self-test)
        self._waiting_result: Listener | None = None

    def set_levels(self, levels: list[LevelSettings]) -> None:
        """The site's policy from the last Welcome."""
        self._countdowns = countdowns(levels)
        log.info(
            "policy: countdown %s",
            ", ".join(f"L{int(k)}={v}s" for k, v in sorted(self._countdowns.items())) or "none",
        )

    def request(
        self, level: AlarmLevel, trigger: Trigger, on_result: Listener | None = None
    ) -> None:
        """Raise an alarm as the site's policy asks. Thread-safe.

        on_result gets the queued alarm, or None if it was cancelled during the
        countdown (only the Qt thread passes one).
        """
        if self._countdowns.get(level, 0) <= 0 and self.countdown.pending is None:
            self._send(level, trigger, [on_result])  # the fast path: no thread hop
            return
        self._shell.call_on_gui_thread(lambda: self._press(level, trigger, on_result))

    def _press(self, level: AlarmLevel, trigger: Trigger, on_result: Listener | None) -> None:
        now = self._clock()
        send = self.countdown.press(level, trigger, self._countdowns.get(level, 0), now)
        if send is None:
            self._waiting_result = on_result
            log.info("countdown started: level=%d, %d s", level, self.countdown.remaining(now))
            self._shell.show_countdown(self.countdown.remaining(now), self.cancel_countdown)
            self._shell.start_ticking(self.tick)
            return
        previous, self._waiting_result = self._waiting_result, None
        self._shell.hide_countdown()
        self._send(*send, [previous, on_result])

    def _send(self, level: AlarmLevel, trigger: Trigger, listeners: list[Listener | None]) -> None:
        alarm = self._raise(level, trigger)
        self._own.add(alarm.alarm_id)
        for listener in listeners:
            if listener is not None:
                listener(alarm)

    def cancel_countdown(self) -> None:
        dropped = self.countdown.cancel()
        self._shell.hide_countdown()
        if dropped is None:
            return
        log.info("countdown cancelled: nothing sent")
        listener, self._waiting_result = self._waiting_result, None
        if listener is not None:
            listener(None)
        self.tick()

    def stored(self, stored: AlarmStored) -> None:
        if stored.alarm_id not in self._own:
            return
        if self.cancel_windows.stored(stored.alarm_id, stored.cancel_window_s, self._clock()):
            log.info("cancel window open %s: %d s", stored.alarm_id, stored.cancel_window_s)
            self.tick()
            self._shell.start_ticking(self.tick)

    def updated(self, alarm_id: uuid.UUID, state: AlarmState) -> None:
        if state in (AlarmState.RESOLVED, AlarmState.CANCELLED):
            self.cancel_windows.close(alarm_id)
            self.tick()

    def cancel_alarm(self, alarm_id: uuid.UUID, *, duress: bool = False) -> bool:
        """Withdraw one of our stored alarms while its window is open.

        A duress cancel shows and logs exactly what a normal one does: the log is on
        this PC, where whoever forced the withdrawal might look. Only the hub knows.
        """
        if not self.cancel_windows.take(alarm_id, self._clock()):
            log.info("cancel window of %s already closed", alarm_id)
            self.tick()
            return False
        log.warning("alarm withdrawn by the raiser %s", alarm_id)
        self._send_cancel(alarm_id, duress)
        self.tick()
        return True

    def cancel_newest(self, *, duress: bool) -> None:
        """The newest alarm still in its window is withdrawn (the duress chord). Thread-safe;
        with no window open nothing happens, as nothing would for a stray key."""
        self._shell.call_on_gui_thread(lambda: self._cancel_newest(duress))

    def _cancel_newest(self, duress: bool) -> None:
        windows = self.cancel_windows.open(self._clock())
        if windows:
            self.cancel_alarm(windows[-1][0], duress=duress)

    def tick(self) -> None:
        """Send a countdown that ran out; count down the window and the tray's cancel entry."""
        now = self._clock()
        due = self.countdown.due(now)
        if due is not None:
            self._shell.hide_countdown()
            listener, self._waiting_result = self._waiting_result, None
            self._send(*due, [listener])
        elif self.countdown.pending is not None:
            self._shell.count_down(self.countdown.remaining(now))
        windows = self.cancel_windows.open(now)
        if windows:
            alarm_id, seconds = windows[-1]  # the newest alarm is the one to withdraw
            self._shell.offer_cancel(
                seconds, lambda: self.cancel_alarm(alarm_id, duress=self._menu_duress)
            )
        else:
            self._shell.offer_cancel(None, None)
        if self.countdown.pending is None and not windows:
            self._shell.stop_ticking()
