"""The tray application: wires config, outbox, link, hotkey, tray and popups on the Qt thread."""

from __future__ import annotations

import logging
import signal
import socket
import sys
import time
import uuid
from types import FrameType
from typing import Any

from PySide6.QtCore import QLockFile, QObject, QSocketNotifier, QTimer, Signal
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from agent import instance
from agent.config import AgentConfig
from agent.drill import DrillControl
from agent.feedback import STORED_DEADLINE, AlarmFeedback, Feedback, View
from agent.feedback_text import notice_line
from agent.hotkey import HotkeyBackend, HotkeyUnavailable, start_hotkey
from agent.i18n import text
from agent.link import Link, LinkEvents
from agent.notice import NoticeWindow
from agent.outbox import Outbox
from agent.popup import PopupManager
from agent.selftest import SelfTest
from agent.sound import AlarmSound, choose_player, qt_beep, write_tones
from agent.tray import RaiseControl, StatusWindow, Tray, status_lines
from shared.domain import AlarmKind, AlarmLevel, Trigger
from shared.protocol import (
    AlarmNotify,
    AlarmStored,
    AlarmUpdate,
    RaiseAlarm,
    RaiserStatus,
    Welcome,
)

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
    raiser_status = Signal(object)  # the hub's view of one of our alarms (issue 13)
    self_test_echo = Signal(object)
    drill_refused = Signal(object)  # the RaiseAlarm the hub refused: no drill scheduled
    levels = Signal(object)  # the site's countdown and cancel window per level


class BridgeEvents(LinkEvents):
    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge

    def connected(self, welcome: Welcome) -> None:
        self._bridge.levels.emit(welcome.levels)
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

    def raiser_status(self, status: RaiserStatus) -> None:
        self._bridge.raiser_status.emit(status)

    def self_test_echo(self, notify: AlarmNotify) -> None:
        self._bridge.self_test_echo.emit(notify)

    def drill_refused(self, alarm: RaiseAlarm, message: str) -> None:
        self._bridge.drill_refused.emit(alarm)


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
        self.drill = DrillControl(
            language=config.language,
            raise_alarm=lambda level, kind: self.link.raise_alarm(level, Trigger.TRAY, kind),
        )
        self.tray = Tray(
            language=config.language,
            hotkey_level=config.hotkey_level,
            on_raise=self.request_alarm,
            on_quit=self.quit,
            tray_click=config.tray_click,
            allow_quit=config.allow_quit,
            on_self_test=self.run_self_test,
            log_dir=config.log_dir,
            on_show_status=self.show_status,
            on_drill=self.drill.raise_drill if config.drill_menu else None,
        )
        self.control = RaiseControl(
            language=config.language,
            raise_alarm=self.link.raise_alarm,
            send_cancel=self.link.cancel_alarm,
            tray=self.tray,
        )
        self.status_window: StatusWindow | None = None
        self.sound: AlarmSound | None = None
        if config.sound:
            tones = write_tones(config.data_dir / "sounds")
            self.sound = AlarmSound(choose_player(qt_beep()), tones)
        self.popups = PopupManager(
            language=config.language,
            send_receipt=self.link.send_receipt,
            send_answer=self.link.respond,
            sound=self.sound,
        )
        self.hotkey: HotkeyBackend | None = None
        self._shown_view: View | None = None
        # The raiser's alarms, one line each; never over the tray icon.
        self.notice = NoticeWindow(config.language, avoid=self.tray.icon.geometry)
        self._logged: dict[uuid.UUID, AlarmFeedback] = {}
        self.bridge.link_changed.connect(lambda up: self._render(self.feedback.link_changed(up)))
        self.bridge.queued.connect(self._queued)
        self.bridge.stored.connect(lambda s: self._render(self.feedback.stored(s.alarm_id)))
        self.bridge.notify.connect(self.popups.show)
        self.bridge.update.connect(self._updated)
        self.bridge.raiser_status.connect(lambda s: self._render(self.feedback.status(s)))
        self.bridge.levels.connect(self.control.set_levels)
        self.bridge.stored.connect(self.control.stored)
        self.bridge.update.connect(lambda u: self.control.updated(u.alarm_id, u.state))
        self.bridge.stored.connect(self.drill.stored)
        self.bridge.drill_refused.connect(self.drill.refused)
        # Self-test: the schedule is Qt-free (agent/selftest.py); one single-shot
        # timer wakes it exactly when it has something to do (no polling).
        self.self_test = SelfTest(
            send=self._send_self_test,
            clock=time.monotonic,
            interval=config.self_test_interval_h * 3600,
            timeout=config.self_test_timeout_s,
            on_result=lambda passed: self._render(self.feedback.self_test_result(passed)),
        )
        self._self_test_timer = QTimer()
        self._self_test_timer.setSingleShot(True)
        self._self_test_timer.timeout.connect(lambda: self._self_test_wake(self.self_test.poll()))
        self.bridge.link_changed.connect(
            lambda up: self._self_test_wake(self.self_test.link_changed(up))
        )
        self.bridge.stored.connect(
            lambda s: self._self_test_wake(self.self_test.stored(s.alarm_id))
        )
        self.bridge.self_test_echo.connect(
            lambda n: self._self_test_wake(self.self_test.echoed(n.alarm_id))
        )

    def start(self) -> None:
        self.tray.show()
        self.link.start()
        bindings = {self.config.chord: self._hotkey_pressed}
        if self.config.danger_chord is not None:
            bindings[self.config.danger_chord] = self._danger_pressed
        try:
            self.hotkey = start_hotkey(bindings)
        except HotkeyUnavailable as exc:
            log.warning("%s; the tray icon and `silent-alarm-agent trigger` still work", exc)

    def _hotkey_pressed(self) -> None:
        self.request_alarm(self.config.hotkey_level, Trigger.HOTKEY)

    def _danger_pressed(self) -> None:
        self.request_alarm(AlarmLevel.DANGER, Trigger.HOTKEY)

    def request_alarm(self, level: AlarmLevel, trigger: Trigger, on_result: Any = None) -> None:
        """Thread-safe: through the site's countdown (if any) into the outbox."""
        self.control.request(level, trigger, on_result)

    def status(self) -> dict[str, Any]:
        """What `silent-alarm-agent status` prints (Qt thread)."""
        view = self.feedback.view
        hotkeys = [self.config.hotkey, self.config.hotkey_danger]
        return {
            "workstation_id": self.config.workstation_id,
            "connected": self.link.connected,
            "protected": view.protected,
            "hotkeys": [h for h in hotkeys if h],
            "locked": sorted(self.config.locked_keys),
        }

    def show_status(self) -> None:
        if self.status_window is None:
            self.status_window = StatusWindow(self.config.language)
        self.status_window.present(status_lines(self.status(), self.config.language))

    def raise_alarm(self, level: AlarmLevel, trigger: Trigger) -> RaiseAlarm:
        """Thread-safe: the hotkey calls this on its own thread, the tray on the Qt thread."""
        return self.link.raise_alarm(level, trigger)

    def run_self_test(self) -> None:
        """Tray menu "Selbsttest jetzt": start a self-test now (Qt thread)."""
        self._self_test_wake(self.self_test.run_now())

    def _send_self_test(self) -> uuid.UUID:
        alarm = self.link.raise_alarm(AlarmLevel.SUPPORT, Trigger.SCHEDULE, AlarmKind.SELF_TEST)
        return alarm.alarm_id

    def _self_test_wake(self, seconds: float | None) -> None:
        self._self_test_timer.stop()
        if seconds is not None:
            # QTimer takes int milliseconds (at most ~24.8 days; the interval is at most 7).
            self._self_test_timer.start(int(seconds * 1000) + 1)

    def quit(self) -> None:
        log.warning("agent quit from the tray menu; this PC has no alarm until it restarts")
        QApplication.quit()

    def shutdown(self) -> None:
        if self.hotkey is not None:
            self.hotkey.stop()
        self.link.stop()
        self.popups.close_all()
        if self.sound is not None:
            self.sound.close()
        self.tray.hide()
        self.outbox.close()

    def _queued(self, alarm: RaiseAlarm) -> None:
        if alarm.kind is AlarmKind.SELF_TEST:
            return  # the agent's own check: nobody waits for help
        # Drills are followed too (marked "ÜBUNG"), but never change the tray icon.
        drill = alarm.kind is AlarmKind.DRILL
        self._render(
            self.feedback.raised(alarm.alarm_id, time.monotonic(), drill=drill, wall=time.time())
        )
        QTimer.singleShot(
            int(STORED_DEADLINE * 1000) + 50,
            lambda: self._render(self.feedback.tick(time.monotonic())),
        )

    def _updated(self, update: AlarmUpdate) -> None:
        if not self.popups.update(update):
            self._render(
                self.feedback.updated(
                    update.alarm_id, update.state, update.responders, update.coming
                )
            )

    def _render(self, view: View) -> None:
        self._render_notice()
        if view != self._shown_view:
            log.info(
                "tray status %s%s%s",
                view.status,
                f" ({view.coming})" if view.coming else "",
                "" if view.connected else ", not protected",
            )
            self._shown_view = view
            self.tray.render(view)

    def _render_notice(self) -> None:
        """The notice window, and one log line per alarm whose state changed (support, tests)."""
        alarms = self.feedback.alarms
        for alarm in alarms:
            if self._logged.get(alarm.alarm_id) != alarm:
                log.info(
                    "raiser notice %s %s: %s",
                    alarm.alarm_id,
                    alarm.status,
                    notice_line(alarm, self.config.language),
                )
        self._logged = {alarm.alarm_id: alarm for alarm in alarms}
        self.notice.show_alarms(alarms)


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
    lock = QLockFile(str(instance.lock_path(config.data_dir)))
    name = instance.server_name(config.data_dir)
    if not lock.tryLock(100):
        if instance.send_command(name, {"command": "ping"}, timeout=2.0) is not None:
            print(f"silent-alarm-agent: {text('instance.running', config.language)}")
            return 0
        print("silent-alarm-agent: another agent holds this data_dir's lock", file=sys.stderr)
        return 1
    # Listen at once, so a second start during the tray wait below is answered too.
    server = instance.InstanceServer(name, {"ping": lambda _request, reply: reply({"ok": True})})
    server.listen()
    notifier = _quit_on_signals(qapp)
    if not _wait_for_tray(qapp, TRAY_WAIT_SECONDS):
        log.warning("no tray host after %.0f s; running without a tray icon", TRAY_WAIT_SECONDS)
    app = AgentApp(config)
    server.handlers.update(instance.agent_handlers(app))
    app.start()
    log.info("agent running as workstation %s", config.workstation_id)
    try:
        return qapp.exec()
    finally:
        server.close()
        app.shutdown()
        notifier.setEnabled(False)
        lock.unlock()
