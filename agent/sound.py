"""Sounds for colleagues' popups: one tone for levels 1–2, another for 3, repeated until answered.

The tones are WAV files written with the standard library. They are played by
the first player that exists here (winsound on Windows, else ``paplay``,
``pw-play`` or ``aplay``, else the desktop beep), always without blocking the
caller, and a missing audio device never breaks a popup: a player that fails
is only logged.
"""

from __future__ import annotations

import importlib
import logging
import math
import shutil
import struct
import subprocess
import sys
import threading
import wave
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from shared.domain import AlarmLevel

log = logging.getLogger(__name__)

RATE = 22050
REPEAT_SECONDS = 4.0
"""Pause between repeats: long enough to talk over, short enough to be noticed."""

# (frequency Hz, seconds); 0 Hz is silence. Levels 1–2: two calm chimes.
# Level 3: a fast, high two-tone warble that cannot be mistaken for it.
TONES: dict[str, Sequence[tuple[float, float]]] = {
    "alarm": ((660, 0.18), (0, 0.08), (880, 0.28)),
    "danger": tuple((f, 0.12) for _ in range(5) for f in (1200.0, 800.0)),
}
COMMAND_PLAYERS = ("paplay", "pw-play", "aplay")


def tone_name(level: AlarmLevel) -> str:
    return "danger" if level is AlarmLevel.DANGER else "alarm"


def tone_wav(parts: Sequence[tuple[float, float]], volume: float = 0.5) -> bytes:
    """16-bit mono PCM samples of the tone sequence, with short fades against clicks."""
    frames = bytearray()
    fade = int(RATE * 0.005)
    for frequency, seconds in parts:
        count = int(RATE * seconds)
        for n in range(count):
            ramp = min(1.0, n / fade, (count - n) / fade) if fade else 1.0
            value = volume * ramp * math.sin(2 * math.pi * frequency * n / RATE) if frequency else 0
            frames += struct.pack("<h", int(value * 32767))
    return bytes(frames)


def write_tones(folder: Path) -> dict[str, Path]:
    """Write every tone as ``<name>.wav`` into folder (overwriting); returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, parts in TONES.items():
        path = folder / f"{name}.wav"
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes(tone_wav(parts))
        paths[name] = path
    return paths


class Player(Protocol):
    name: str

    def play(self, path: Path) -> None:
        """Start playing path and return at once; never raise."""


class CommandPlayer:
    """Plays through a command-line player in a child process (PulseAudio, PipeWire, ALSA)."""

    def __init__(self, command: str) -> None:
        self.name = Path(command).name
        self._command = command
        self._child: subprocess.Popen[bytes] | None = None

    def play(self, path: Path) -> None:
        if self._child is not None and self._child.poll() is None:
            return  # still playing the last repeat
        if self._child is not None and self._child.returncode:
            log.info("sound player %s exited with %d", self.name, self._child.returncode)
        try:
            self._child = subprocess.Popen(
                [self._command, str(path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError as exc:
            log.warning("sound player %s failed: %s", self.name, exc)


class WinsoundPlayer:
    """Windows' own player; SND_ASYNC returns at once."""

    name = "winsound"

    def play(self, path: Path) -> None:
        winsound: Any = importlib.import_module("winsound")  # Windows only
        try:
            winsound.PlaySound(str(path), winsound.SND_FILENAME | winsound.SND_ASYNC)
        except RuntimeError as exc:  # no sound device
            log.warning("winsound failed: %s", exc)


class BeepPlayer:
    """Last resort: the desktop's beep (the tone cannot differ, the repeat still does)."""

    name = "beep"

    def __init__(self, beep: Callable[[], None]) -> None:
        self._beep = beep

    def play(self, path: Path) -> None:
        try:
            self._beep()
        except Exception:
            log.exception("beep failed")


def choose_player(beep: Callable[[], None], platform: str | None = None) -> Player:
    if (platform or sys.platform) == "win32":
        return WinsoundPlayer()
    for command in COMMAND_PLAYERS:
        found = shutil.which(command)
        if found:
            return CommandPlayer(found)
    return BeepPlayer(beep)


class AlarmSound:
    """Repeats the tone of the highest open level every ``interval`` seconds until stopped.

    A worker thread waits on an event between repeats, so nothing polls and the
    caller (the Qt thread) never waits for audio.
    """

    def __init__(
        self, player: Player, tones: dict[str, Path], interval: float = REPEAT_SECONDS
    ) -> None:
        self.player = player
        self._tones = tones
        self._interval = interval
        self._level: AlarmLevel | None = None
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def level(self) -> AlarmLevel | None:
        return self._level

    def play(self, level: AlarmLevel) -> None:
        """Sound level's tone now and on repeat; a new level switches the tone at once."""
        with self._wake:
            if self._closed or level == self._level:
                return
            self._level = level
            self._wake.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="alarm-sound", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._level = None
            self._wake.notify_all()

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._level = None
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(2.0)

    def _run(self) -> None:
        with self._wake:
            while not self._closed:
                level = self._level
                if level is None:
                    self._wake.wait()
                    continue
                self._wake.release()
                try:
                    self.player.play(self._tones[tone_name(level)])
                except Exception:
                    log.exception("alarm sound failed")
                finally:
                    self._wake.acquire()
                if self._level == level and not self._closed:
                    self._wake.wait(self._interval)


def qt_beep() -> Callable[[], None]:
    """QApplication.beep, callable from any thread (it is queued to the Qt thread)."""
    from PySide6.QtCore import QObject, Signal, Slot
    from PySide6.QtWidgets import QApplication

    class _Beeper(QObject):
        beep = Signal()

        def __init__(self) -> None:
            super().__init__()
            # The receiver lives on the Qt thread, so an emit from the sound thread is queued.
            self.beep.connect(self._beep)

        @Slot()
        def _beep(self) -> None:
            QApplication.beep()

    beeper = _Beeper()
    return lambda: beeper.beep.emit()  # the closure keeps beeper alive
