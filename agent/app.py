"""The tray application: wires config, outbox, link, hotkey, tray and popups on the Qt thread."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QLockFile, QTimer
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from agent import instance
from agent.answer_memory import AnswerMemory
from agent.chord import display_chord
from agent.config import AgentConfig
from agent.countdown_window import CountdownShell
from agent.deadline_timer import call_after
from agent.drill import DrillControl
from agent.feedback import STORED_DEADLINE, AlarmFeedback, Feedback, Reason, View, ordered
from agent.feedback_text import notice_line
from agent.hotkey import start_hotkey
from agent.hotkey_backend import HotkeyBackend, HotkeyUnavailable
from agent.i18n import text
from agent.link import link_for
from agent.link_signals import LinkSignals
from agent.message_window import MessageWindow
from agent.notice_window import NotProtectedShell
from agent.outbox import Outbox
from agent.popup import PopupManager
from agent.quit_signals import quit_on_signals
from agent.raise_control import RaiseControl
from agent.raiser_notice import NoticeWindow
from agent.remote_session import RemoteSession
from agent.selftest import SelfTest
from agent.sound import AlarmSound, choose_player, qt_beep, write_tones
from agent.status_text import STATUS_TITLE, room_status, status_lines
from agent.tray import Tray
from shared.domain import AlarmKind, AlarmLevel, Trigger
from shared.protocol import AlarmUpdate, RaiseAlarm, WorkstationInfo

log = logging.getLogger(__name__)


class AgentApp:
    """The running agent. Everything here runs on the Qt thread except the hotkey's presses,
    which reach the thread-safe ``request_alarm`` on the hotkey's own thread."""

    def __init__(
        self,
        config: AgentConfig,
        tray_available: bool = True,
        session: RemoteSession | None = None,
    ) -> None:
        self.config = config
        # In a remote session the room is the client device's (agent/remote_session.py).
        self.session = session
        self.hotkey_label = display_chord(config.chord, config.language)
        self.outbox = Outbox(config.data_dir)
        self.feedback = Feedback()
        self.feedback.reason(Reason.NO_TRAY, not tray_available)
        self.feedback.reason(Reason.SESSION_UNMAPPED, session is not None and not session.mappable)
        self.link_signals = LinkSignals()
        self.link = link_for(config, self.outbox, self.link_signals, session)
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
            hotkey_label=self.hotkey_label,
        )
        self.control = RaiseControl(
            raise_alarm=self.link.raise_alarm,
            send_cancel=self.link.cancel_alarm,
            shell=CountdownShell(config.language, self.tray),
            menu_duress=config.cancel_menu_duress,
        )
        self.status_window: MessageWindow | None = None
        # Where the hub says this PC is: None until the first welcome. Shown in the
        # status only; the hub never takes the agent's word for the room.
        self.workstation_info: WorkstationInfo | None = None
        self.sound: AlarmSound | None = None
        if config.sound:
            tones = write_tones(config.data_dir / "sounds")
            self.sound = AlarmSound(choose_player(qt_beep()), tones)
        self.popups = PopupManager(
            language=config.language,
            send_receipt=self.link.send_receipt,
            send_answer=self.link.respond,
            sound=self.sound,
            memory=AnswerMemory(config.data_dir),  # answers survive a restart of the agent
        )
        self.hotkey: HotkeyBackend | None = None
        self._shown_view: View | None = None
        self.notice = NotProtectedShell(
            language=config.language,
            hotkey_label=self.hotkey_label,
            delay=config.not_protected_delay_s,
            reminder=config.not_protected_reminder_s,
            on_wake=self._look_for_tray,
        )
        self._reported: list[str] | None = None  # the reasons the hub last heard
        # The raiser's alarms, one line each; never over the tray icon.
        self.raiser_notice = NoticeWindow(config.language, avoid=self.tray.icon.geometry)
        self._logged: dict[uuid.UUID, AlarmFeedback] = {}
        self.link_signals.link_changed.connect(self._link_changed)
        self.link_signals.queued.connect(self._queued)
        self.link_signals.stored.connect(lambda s: self._render(self.feedback.stored(s.alarm_id)))
        self.link_signals.notify.connect(self.popups.show)
        self.link_signals.peer_notify.connect(lambda n: self.popups.show(n, no_hub=True))
        self.link_signals.peers.connect(
            lambda alarm_id, acked, asked: self._render(
                self.feedback.peers_told(alarm_id, acked, asked)
            )
        )
        self.link_signals.update.connect(self._updated)
        self.link_signals.status.connect(lambda s: self._render(self.feedback.status(s)))
        self.link_signals.levels.connect(self.control.set_levels)
        self.link_signals.workstation.connect(self._workstation_changed)
        self.link_signals.store.connect(
            lambda can: self._render(self.feedback.reason(Reason.HUB_CANNOT_STORE, not can))
        )
        self.link_signals.stored.connect(self.control.stored)
        self.link_signals.update.connect(lambda u: self.control.updated(u.alarm_id, u.state))
        self.link_signals.stored.connect(self.drill.stored)
        self.link_signals.refused.connect(self.drill.refused)
        # Self-test: the schedule is Qt-free (agent/selftest.py); one single-shot
        # timer wakes it exactly when it has something to do (no polling).
        self.self_test = SelfTest(
            send=self._send_self_test,
            clock=time.monotonic,
            interval=config.self_test_interval_h * 3600,
            timeout=config.self_test_timeout_s,
            on_result=lambda passed: self._render(self.feedback.self_test_result(passed)),
            local_check=self._check_trigger_path,
        )
        self._self_test_timer = QTimer()
        self._self_test_timer.setSingleShot(True)
        self._self_test_timer.timeout.connect(lambda: self._self_test_wake(self.self_test.poll()))
        self.link_signals.link_changed.connect(
            lambda up: self._self_test_wake(self.self_test.link_changed(up))
        )
        self.link_signals.stored.connect(
            lambda s: self._self_test_wake(self.self_test.stored(s.alarm_id))
        )
        self.link_signals.echo.connect(
            lambda n: self._self_test_wake(self.self_test.echoed(n.alarm_id))
        )

    def start(self) -> None:
        self.tray.show()
        self.link.start()  # not in a session without a client name (agent/link.py)
        bindings = {self.config.chord: self._hotkey_pressed}
        if self.config.danger_chord is not None:
            bindings[self.config.danger_chord] = self._danger_pressed
        if self.config.duress_chord is not None:
            bindings[self.config.duress_chord] = lambda: self.control.cancel_newest(duress=True)
        try:
            self.hotkey = start_hotkey(bindings)
        except HotkeyUnavailable as exc:
            log.warning("%s; the tray icon and `silent-alarm-agent trigger` still work", exc)
            self.feedback.reason(Reason.HOTKEY_UNAVAILABLE, True)
        self._render(self.feedback.view)

    def _check_trigger_path(self) -> list[str]:
        """The self-test's local part: what on this PC would keep a press from raising."""
        problems = []
        if self.hotkey is None or not self.hotkey.listening:
            problems.append("hotkey not listening")
            self.feedback.reason(Reason.HOTKEY_UNAVAILABLE, True)
        if not (QSystemTrayIcon.isSystemTrayAvailable() and self.tray.icon.isVisible()):
            problems.append("no tray icon")
            self.feedback.reason(Reason.NO_TRAY, True)
        return problems

    def _hotkey_pressed(self) -> None:
        self.request_alarm(self.config.hotkey_level, Trigger.HOTKEY)

    def _danger_pressed(self) -> None:
        self.request_alarm(AlarmLevel.DANGER, Trigger.HOTKEY)

    def request_alarm(
        self,
        level: AlarmLevel,
        trigger: Trigger,
        on_result: Callable[[RaiseAlarm | None], None] | None = None,
    ) -> None:
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
            "reasons": [reason.value for reason in ordered(view.reasons)],
            "hotkey_label": self.hotkey_label,
            "hotkeys": [h for h in hotkeys if h],
            "locked": sorted(self.config.shown_locked_keys),
            "room_known": self.workstation_info is not None,
            "room": room_status(self.workstation_info),
            "session_client": self.session.client_name if self.session else None,
        }

    def show_status(self) -> None:
        if self.status_window is None:
            self.status_window = MessageWindow(STATUS_TITLE, self.config.language, selectable=True)
        self.status_window.present("\n".join(status_lines(self.status(), self.config.language)))

    def _workstation_changed(self, info: WorkstationInfo) -> None:
        # A PC without a room is not protected: its alarm reaches security only.
        self._render(self.feedback.reason(Reason.NO_ROOM, info.room is None))
        if info == self.workstation_info:
            return
        self.workstation_info = info
        log.info("room now %s", info.room.number if info.room else "unassigned")
        if self.status_window is not None and self.status_window.isVisible():
            self.show_status()  # an open status window follows the move

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
        self._watch_stored_deadline(STORED_DEADLINE)

    def _watch_stored_deadline(self, seconds: float) -> None:
        """Ticks the feedback once an alarm's AlarmStored deadline has passed, so the raiser
        is told "nicht zugestellt" in time.

        A precise timer (agent/deadline_timer.py), and checked again when it fires: with
        Qt's default coarse timer one alarm in ten was ticked up to 150 ms before its
        deadline, which changed nothing and came never again, so the raiser was not told.
        """

        def fired() -> None:
            now = time.monotonic()
            self._render(self.feedback.tick(now))
            left = self.feedback.next_deadline(now)
            if left is not None and left > 0:
                self._watch_stored_deadline(left)

        call_after(seconds, fired)

    def _updated(self, update: AlarmUpdate) -> None:
        if not self.popups.update(update):
            self._render(
                self.feedback.updated(
                    update.alarm_id, update.state, update.responders, update.coming
                )
            )

    def _link_changed(self, up: bool) -> None:
        if up:
            self._reported = None  # a new session: the hub hears the reasons again
        # Each session starts "can store": a hub that cannot says so after its welcome.
        self.feedback.reason(Reason.HUB_CANNOT_STORE, False)
        self._render(self.feedback.link_changed(up))

    def _render(self, view: View) -> None:
        self._render_notice()
        if view != self._shown_view:
            log.info(
                "tray status %s%s%s",
                view.status,
                f" ({view.coming})" if view.coming else "",
                "" if view.protected else ", not protected",
            )
            if self._shown_view is None or view.reasons != self._shown_view.reasons:
                log.info(
                    "protection: %s",
                    ", ".join(ordered(view.reasons)) if view.reasons else "protected",
                )
            self._shown_view = view
            self.tray.render(view)
            self.notice.changed(view.reasons)
        self._report_health(view)

    def _report_health(self, view: View) -> None:
        """The hub's coverage board learns the reasons it cannot see itself."""
        if not self.link.connected or Reason.NO_HUB in view.reasons:
            return
        reasons = [reason.value for reason in ordered(view.reasons)]
        if reasons != self._reported:
            self._reported = reasons
            self.link.report_health(reasons)

    def _look_for_tray(self) -> None:
        """A panel may come up after the login wait: then the icon can show now."""
        if Reason.NO_TRAY in self.feedback.reasons and QSystemTrayIcon.isSystemTrayAvailable():
            self.tray.show()
            self._render(self.feedback.reason(Reason.NO_TRAY, False))

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
        self.raiser_notice.show_alarms(alarms)


def _wait_for_tray(qapp: QApplication, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not QSystemTrayIcon.isSystemTrayAvailable():
        if time.monotonic() > deadline:
            return False
        qapp.processEvents()
        time.sleep(0.1)
    return True


def run_app(config: AgentConfig, session: RemoteSession | None = None) -> int:
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
    notifier = quit_on_signals(qapp)
    tray_available = _wait_for_tray(qapp, config.tray_wait_s)
    if not tray_available:
        log.warning("no tray host after %.0f s; running without a tray icon", config.tray_wait_s)
    app = AgentApp(config, tray_available, session)
    server.handlers.update(instance.agent_handlers(app))
    app.start()
    log.info(
        "agent running as workstation %s%s",
        config.workstation_id,
        f" in a remote session of {session.client_name or 'an unnamed client'}" if session else "",
    )
    try:
        return qapp.exec()
    finally:
        server.close()
        app.shutdown()
        notifier.setEnabled(False)
        lock.unlock()
