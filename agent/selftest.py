"""When to run the end-to-end self-test and whether it passed; Qt-free, driven by an injected clock.

A self-test is a ``RaiseAlarm(kind=self_test)`` that goes through the outbox
and the link like a real alarm. The hub stores it, answers ``alarm_stored``
and echoes an ``alarm_notify`` (kind ``self_test``) to this workstation only.
It passes when both arrive within the timeout and the local part of the
trigger path checks out too (``local_check``: the hotkey backend still
listening, the tray icon visible). A failed test puts the agent into "not
protected" until a later one passes; it is retried after a minute.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from enum import StrEnum

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE = 60.0
"""Seconds until a failed self-test is tried again."""


class Result(StrEnum):
    UNKNOWN = "unknown"  # none finished yet
    PASSED = "passed"
    FAILED = "failed"


class SelfTest:
    """Schedules self-tests and judges them; ``poll`` says how long until it needs a call again.

    ``send`` raises the test alarm (through outbox and link) and returns its id;
    ``on_result`` hears every finished test (True: passed). All methods take the
    current time from ``clock`` so tests can drive a day in microseconds.
    """

    def __init__(
        self,
        *,
        send: Callable[[], uuid.UUID],
        clock: Callable[[], float],
        interval: float,
        timeout: float,
        retry: float = RETRY_AFTER_FAILURE,
        on_result: Callable[[bool], None] | None = None,
        local_check: Callable[[], list[str]] | None = None,
    ) -> None:
        self._send = send
        self._local_check = local_check  # what is broken on this PC ([]: nothing)
        self._clock = clock
        self.interval = interval  # 0 turns the scheduled tests off; run_now still works
        self.timeout = timeout
        self.retry = retry
        self._on_result = on_result
        self.result = Result.UNKNOWN
        self._connected = False
        self._next_due: float | None = None  # None: nothing scheduled (first connect schedules)
        self._started = False  # the first test runs after the first successful connect
        self._current: uuid.UUID | None = None
        self._deadline = 0.0
        self._stored = False
        self._echoed = False

    @property
    def running(self) -> bool:
        return self._current is not None

    @property
    def failed(self) -> bool:
        return self.result is Result.FAILED

    def link_changed(self, connected: bool) -> float | None:
        """The link came up or went down; the first connect schedules the start-up test."""
        self._connected = connected
        if connected and not self._started:
            self._started = True
            if self.interval > 0:
                self._next_due = self._clock()
        return self.poll()

    def run_now(self) -> float | None:
        """Start a test at once (tray menu "Selbsttest jetzt"), unless one is running.

        Offline it waits for the link, as a scheduled test does.
        """
        if self._current is None:
            self._next_due = self._clock()
        return self.poll()

    def stored(self, alarm_id: uuid.UUID) -> float | None:
        """The hub's ``alarm_stored`` for some alarm; counts only for the running test."""
        if alarm_id == self._current:
            self._stored = True
        return self.poll()

    def echoed(self, alarm_id: uuid.UUID) -> float | None:
        """The hub's ``alarm_notify`` echo of a self-test; counts only for the running test."""
        if alarm_id == self._current:
            self._echoed = True
        return self.poll()

    def poll(self) -> float | None:
        """Advance the state; the seconds until the next call is needed, None if never."""
        now = self._clock()
        if self._current is not None:
            if self._stored and self._echoed:
                self._finish(True, now)
            elif now >= self._deadline:
                self._finish(False, now)
        if (
            self._current is None
            and self._connected
            and self._next_due is not None
            and now >= self._next_due
        ):
            self._start(now)
        return self._wait(now)

    def _start(self, now: float) -> None:
        self._next_due = None
        self._stored = self._echoed = False
        self._deadline = now + self.timeout
        self._current = self._send()
        log.info("self-test started %s", self._current)

    def _finish(self, passed: bool, now: float) -> None:
        alarm_id, self._current = self._current, None
        local = self._local_check() if self._local_check is not None else []
        if passed and local:
            passed = False
            log.warning("self-test failed %s: %s", alarm_id, "; ".join(local))
            self.result = Result.FAILED
            self._next_due = now + self.retry
        elif passed:
            self.result = Result.PASSED
            self._next_due = now + self.interval if self.interval > 0 else None
            log.info("self-test passed %s", alarm_id)
        else:
            self.result = Result.FAILED
            self._next_due = now + self.retry
            missing = [
                name
                for name, seen in (("alarm_stored", self._stored), ("echo", self._echoed))
                if not seen
            ]
            log.warning(
                "self-test failed %s: no %s within %.0f s; not protected, retry in %.0f s",
                alarm_id,
                " and no ".join(missing),
                self.timeout,
                self.retry,
            )
        if self._on_result is not None:
            self._on_result(passed)

    def _wait(self, now: float) -> float | None:
        if self._current is not None:
            return max(0.0, self._deadline - now)
        if self._next_due is None:
            return None
        if not self._connected:
            return None  # link_changed(True) wakes us
        return max(0.0, self._next_due - now)
