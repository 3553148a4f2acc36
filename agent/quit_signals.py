"""SIGTERM and SIGINT end a Qt event loop cleanly: the tray agent's, the config-problem window's."""

from __future__ import annotations

import logging
import signal
import socket
from types import FrameType

from PySide6.QtCore import QSocketNotifier
from PySide6.QtWidgets import QApplication

log = logging.getLogger(__name__)


def quit_on_signals(qapp: QApplication) -> QSocketNotifier:
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
