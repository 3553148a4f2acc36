"""The tray application: wires config, outbox, link, hotkey, tray and popups on the Qt thread."""

from __future__ import annotations

import logging
import signal
import socket
import sys
import time
from types import FrameType

from PySide6.QtCore import QLockFile, QObject, QSocketNotifier, QTimer, Signal
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from agent.config import AgentConfig
from agent.feedback import STORED_DEADLINE, Feedback, View
from agent.hotkey import HotkeyBackend, HotkeyUnavailable, start_hotkey
from agent.link import Link, LinkEvents
from agent.outbox import Outbox
from agent.popup import PopupManager
from agent.tray import Tray
from shared.domain import AlarmLevel, Trigger
from shared.protocol import AlarmNotify, AlarmStored, AlarmUpdate, RaiseAlarm, Welcome

log = logging.getLogger(__name__)

TRAY_WAIT_SECONDS = 30.0
"""How long to wait at login for a tray host (panel) to appear before going on without it."""


class Bridge(QObject):
    """Carries link events from the link thread to the Qt thread (queued signals)."""

    link_changed = Signal(bool)
    queued = Signal(object)
    stored = Signal(object)
    notify = Signal(object)
    update = Signal(object)


class BridgeEvents(LinkEvents):
    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge

    def connected(self, welcome: Welcome) -> None:
        self._bridge.link_changed.emit(True)

    def disconnected(self, code: int | None, reason: str) -> None:
        self._bridge.link_changed.emit(False)

    def alarm_queued(self, alarm: RaiseAlarm) -> None:
        self._bridge.queued.emit(alarm)

    def alarm_stored(self, stored: AlarmStored) -> None:
        self._bridge.stored.emit(stored)

    def alarm_notify(self, notify: AlarmNotify) -> None:
        self._bridge.notify.emit(notify)

    def alarm_update(self, update: AlarmUpdate) -> None:
        self._bridge.update.emit(update)


class AgentApp:
    """The running agent. Everything here runs on the Qt thread except raise_alarm."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.outbox = Outbox(config.data_dir)
        self.feedback = Feedback()
        self.bridge = Bridge()
        self.link = Link(
            hub_urls=config.hub_urls,
            workstation_id=config.workstation_id,
            token=config.token,
            user=config.user,
            outbox=self.outbox,
            events=BridgeEvents(self.bridge),
        )
        self.tray = Tray(
            language=config.language,
            hotkey_level=config.hotkey_level,
            on_raise=self.raise_alarm,
            on_quit=self.quit,
        )
        self.popups = PopupManager(
            language=config.language,
            send_receipt=self.link.send_receipt,
            send_answer=self.link.respond,
        )
        self.hotkey: HotkeyBackend | None = None
        self._shown_view: View | None = None
        self.bridge.link_changed.connect(lambda up: self._render(self.feedback.link_changed(up)))
        self.bridge.queued.connect(self._queued)
        self.bridge.stored.connect(lambda s: self._render(self.feedback.stored(s.alarm_id)))
        self.bridge.notify.connect(self.popups.show)
        self.bridge.update.connect(self._updated)

    def start(self) -> None:
        self.tray.show()
        self.link.start()
        try:
            self.hotkey = start_hotkey(self.config.chord, self._hotkey_pressed)
        except HotkeyUnavailable as exc:
            log.warning("%s; the tray icon and `silent-alarm-agent trigger` still work", exc)

    def _hotkey_pressed(self) -> None:
        self.raise_alarm(self.config.hotkey_level, Trigger.HOTKEY)

    def raise_alarm(self, level: AlarmLevel, trigger: Trigger) -> RaiseAlarm:
        """Thread-safe: the hotkey calls this on its own thread, the tray on the Qt thread."""
        return self.link.raise_alarm(level, trigger)

    def quit(self) -> None:
        log.warning("agent quit from the tray menu; this PC has no alarm until it restarts")
        QApplication.quit()

    def shutdown(self) -> None:
        if self.hotkey is not None:
            self.hotkey.stop()
        self.link.stop()
        self.popups.close_all()
        self.tray.hide()
        self.outbox.close()

    def _queued(self, alarm: RaiseAlarm) -> None:
        self._render(self.feedback.raised(alarm.alarm_id, time.monotonic()))
        QTimer.singleShot(
            int(STORED_DEADLINE * 1000) + 50,
            lambda: self._render(self.feedback.tick(time.monotonic())),
        )

    def _updated(self, update: AlarmUpdate) -> None:
        if not self.popups.update(update):
            self._render(self.feedback.updated(update.alarm_id, update.state, update.responders))

    def _render(self, view: View) -> None:
        if view != self._shown_view:
            log.info(
                "tray status %s%s%s",
                view.status,
                f" ({view.coming})" if view.coming else "",
                "" if view.connected else ", not protected",
            )
            self._shown_view = view
            self.tray.render(view)


def _wait_for_tray(qapp: QApplication, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not QSystemTrayIcon.isSystemTrayAvailable():
        if time.monotonic() > deadline:
            return False
        qapp.processEvents()
        time.sleep(0.1)
    return True


def _quit_on_signals(qapp: QApplication) -> QSocketNotifier:
    """SIGTERM/SIGINT end the Qt loop cleanly (Python handlers run only when woken)."""
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno())

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: quitting", signum)
        qapp.quit()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read)
    notifier.activated.connect(lambda: reader.recv(64))
    notifier.setProperty("sockets", (reader, writer))  # keep both alive with the notifier
    return notifier


def run_app(config: AgentConfig) -> int:
    """Run the tray agent until quit; returns the process exit code."""
    qapp = QApplication(["silent-alarm-agent"])
    qapp.setApplicationName("silent-alarm-agent")
    qapp.setQuitOnLastWindowClosed(False)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    lock = QLockFile(str(config.data_dir / "agent.lock"))
    if not lock.tryLock(100):
        print("silent-alarm-agent: another agent already runs for this data_dir", file=sys.stderr)
        return 1
    notifier = _quit_on_signals(qapp)
    if not _wait_for_tray(qapp, TRAY_WAIT_SECONDS):
        log.warning("no tray host after %.0f s; running without a tray icon", TRAY_WAIT_SECONDS)
    app = AgentApp(config)
    app.start()
    log.info("agent running as workstation %s", config.workstation_id)
    try:
        return qapp.exec()
    finally:
        app.shutdown()
        notifier.setEnabled(False)
        lock.unlock()
