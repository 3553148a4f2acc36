"""The link's events as Qt signals: the one hop from the link's worker thread to the Qt thread.

agent/link.py stays Qt-free and calls its ``LinkEvents`` on its own thread
(``alarm_queued`` on the thread that raised). ``LinkSignals`` is those events for
the tray agent: made on the Qt thread, it turns each event into a signal, and Qt
queues the signal to its slots there, so no widget is touched from another thread.
"""

from __future__ import annotations

import uuid

from PySide6.QtCore import QObject, Signal

from agent.link import LinkEvents
from shared.protocol import (
    AlarmNotify,
    AlarmStored,
    AlarmUpdate,
    RaiseAlarm,
    RaiserStatus,
    StoreStatus,
    Welcome,
    WorkstationUpdate,
)


class LinkSignals(QObject, LinkEvents):
    """What the link reports, as signals with one argument each (slots run on the Qt thread)."""

    link_changed = Signal(bool)  # a hub welcomed us (True) or the session ended (False)
    levels = Signal(object)  # the site's countdown and cancel window per level
    workstation = Signal(object)  # WorkstationInfo: the welcome's, then each workstation_update
    queued = Signal(object)  # RaiseAlarm: on disk and on its way
    stored = Signal(object)  # AlarmStored
    notify = Signal(object)  # AlarmNotify: someone else's alarm, for a popup
    update = Signal(object)  # AlarmUpdate
    status = Signal(object)  # RaiserStatus: the hub's view of one of our alarms (issue 13)
    echo = Signal(object)  # AlarmNotify: our own self-test came back
    refused = Signal(object)  # the RaiseAlarm the hub refused: no drill scheduled
    store = Signal(bool)  # the hub can store alarms (False: a full disk; issue 16)
    peer_notify = Signal(object)  # AlarmNotify: a neighbour's alarm sent directly, no hub
    peers = Signal(object, int, int)  # alarm id, peers that acknowledged, peers asked

    def connected(self, welcome: Welcome) -> None:
        self.levels.emit(welcome.levels)
        self.workstation.emit(welcome.workstation)
        self.link_changed.emit(True)

    def workstation_changed(self, update: WorkstationUpdate) -> None:
        if update.levels is not None:  # moved to another site: its countdowns
            self.levels.emit(update.levels)
        self.workstation.emit(update.workstation)

    def disconnected(self, code: int | None, reason: str) -> None:
        self.link_changed.emit(False)

    def store_status(self, status: StoreStatus) -> None:
        self.store.emit(status.can_store)

    def peer_alarm(self, notify: AlarmNotify) -> None:
        self.peer_notify.emit(notify)

    def peers_told(self, alarm_id: uuid.UUID, acknowledged: int, asked: int) -> None:
        self.peers.emit(alarm_id, acknowledged, asked)

    def alarm_queued(self, alarm: RaiseAlarm) -> None:
        self.queued.emit(alarm)

    def alarm_stored(self, stored: AlarmStored) -> None:
        self.stored.emit(stored)

    def alarm_notify(self, notify: AlarmNotify) -> None:
        self.notify.emit(notify)

    def alarm_update(self, update: AlarmUpdate) -> None:
        self.update.emit(update)

    def raiser_status(self, status: RaiserStatus) -> None:
        self.status.emit(status)

    def self_test_echo(self, notify: AlarmNotify) -> None:
        self.echo.emit(notify)

    def drill_refused(self, alarm: RaiseAlarm, message: str) -> None:
        self.refused.emit(alarm)
