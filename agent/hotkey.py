"""Global hotkeys: one or two chords in, one callback per chord press out, nothing kept.

``start_hotkey`` picks the backend at run time: Windows ``RegisterHotKey``
(the OS delivers only our chords; pynput if that fails), pynput on X11, and
``HotkeyUnavailable`` on Wayland or without a display, where the documented
fallback is the ``trigger`` command bound to a desktop shortcut. pynput is
imported only inside its backend because it raises ImportError without a display.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from agent.chord import Chord, ChordMatcher
from agent.hotkey_backend import Action, HotkeyBackend, HotkeyUnavailable, run_action
from agent.hotkey_x11 import recording_listener_class, x_record_problem

log = logging.getLogger(__name__)

_MODIFIER_NAMES = {
    "ctrl": "ctrl",
    "ctrl_l": "ctrl",
    "ctrl_r": "ctrl",
    "alt": "alt",
    "alt_l": "alt",
    "alt_r": "alt",
    "alt_gr": "alt",
    "shift": "shift",
    "shift_l": "shift",
    "shift_r": "shift",
    "cmd": "super",
    "cmd_l": "super",
    "cmd_r": "super",
}


def normalize_pynput_key(key: Any) -> str | None:
    """A pynput Key/KeyCode as a chord key name ("ctrl", "p", "f9"), or None.

    Uses the virtual key / keysym rather than ``char``: with Ctrl held, ``char``
    may be a control character. X11 Latin-1 keysyms and Windows VK codes of
    letters and digits both equal their ASCII code.
    """
    name = getattr(key, "name", None)  # pynput.keyboard.Key members
    if isinstance(name, str):
        return _MODIFIER_NAMES.get(name, name)
    vk = getattr(key, "vk", None)
    if isinstance(vk, int) and 0x20 < vk < 0x7F:
        return chr(vk).lower()
    char = getattr(key, "char", None)
    if isinstance(char, str) and len(char) == 1 and char.isprintable():
        return char.lower()
    return None


LISTENER_START_TIMEOUT = 10.0
"""Seconds pynput's listener thread may take to become ready before the hotkey counts as dead."""


class PynputBackend:
    """pynput's global keyboard listener feeding one ChordMatcher for all chords."""

    name = "pynput"

    def __init__(
        self, bindings: Mapping[Chord, Action], start_timeout: float = LISTENER_START_TIMEOUT
    ) -> None:
        try:
            from pynput import keyboard
        except ImportError as exc:  # pynput raises this when it finds no display
            raise HotkeyUnavailable(f"global hotkey unavailable: {exc}") from None
        listener_class = keyboard.Listener
        x11 = sys.platform.startswith("linux") and _is_x11_listener(listener_class)
        if x11:
            if problem := x_record_problem():
                raise HotkeyUnavailable(f"global hotkey unavailable: {problem}")
            listener_class = recording_listener_class(listener_class)
        self._actions = dict(bindings)
        self._matcher = ChordMatcher(*self._actions)
        self._listener = listener_class(on_press=self._press, on_release=self._release)
        self._listener.start()
        self._wait_ready(start_timeout, self._listener.recording if x11 else None)

    def _wait_ready(self, timeout: float, recording: threading.Event | None) -> None:
        """Ready once keys arrive: on X11 when RECORD delivers, not at pynput's own
        ready mark (hotkey_x11). Listener.wait() blocks forever if the thread dies
        first, so both are waited for with a bound."""
        ready = threading.Event()

        def wait() -> None:
            self._listener.wait()
            if recording is not None:
                recording.wait()
            ready.set()

        threading.Thread(target=wait, daemon=True, name="pynput-wait").start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            if not self._listener.is_alive():
                raise HotkeyUnavailable("global hotkey unavailable: the key listener stopped")
            if time.monotonic() > deadline:
                self._listener.stop()
                raise HotkeyUnavailable(f"global hotkey unavailable: not ready after {timeout} s")

    @property
    def listening(self) -> bool:
        return bool(self._listener.is_alive() and self._listener.running)

    def _press(self, key: Any) -> None:
        try:
            fired = self._matcher.key_down(normalize_pynput_key(key))
        except Exception:  # never let one event kill the listener; never log the key
            log.exception("hotkey event could not be handled")
            return
        if fired is not None:
            run_action(self._actions[fired])

    def _release(self, key: Any) -> None:
        try:
            self._matcher.key_up(normalize_pynput_key(key))
        except Exception:
            log.exception("hotkey event could not be handled")

    def stop(self) -> None:
        self._listener.stop()


def _is_x11_listener(listener_class: Any) -> bool:
    """Whether pynput chose its X11 backend (not uinput, which PYNPUT_BACKEND may pick)."""
    from pynput._util import xorg

    return issubclass(listener_class, xorg.ListenerMixin)


def backend_names(platform: str, environ: Mapping[str, str]) -> list[str]:
    """The backends to try on this desktop, best first; empty when none can work."""
    if platform == "win32":
        return ["registerhotkey", "pynput"]
    if platform == "darwin":
        return ["pynput"]
    if environ.get("WAYLAND_DISPLAY"):
        # Under Wayland an X client (pynput via XWayland) sees only X windows' keys.
        return []
    if environ.get("DISPLAY"):
        return ["pynput"]
    return []


def _start_backend(name: str, bindings: Mapping[Chord, Action]) -> HotkeyBackend:
    if name == "registerhotkey":
        from agent.hotkey_windows import RegisterHotKeyBackend

        return RegisterHotKeyBackend(bindings)
    return PynputBackend(bindings)


def start_hotkey(
    bindings: Mapping[Chord, Action] | Sequence[tuple[Chord, Action]],
    *,
    platform: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> HotkeyBackend:
    """Start the first backend that works here; raises HotkeyUnavailable if none does."""
    actions = dict(bindings)
    if not actions:
        raise HotkeyUnavailable("no hotkey configured")
    names = backend_names(platform or sys.platform, os.environ if environ is None else environ)
    if not names:
        raise HotkeyUnavailable(
            "no global hotkey on this desktop (Wayland or no display); "
            "bind `silent-alarm-agent trigger` to a desktop shortcut instead"
        )
    problems: list[str] = []
    for name in names:
        try:
            backend = _start_backend(name, actions)
        except HotkeyUnavailable as exc:
            log.warning("hotkey backend %s failed: %s", name, exc)
            problems.append(f"{name}: {exc}")
            continue
        log.info("hotkey listening for %s (%s)", ", ".join(map(str, actions)), name)
        return backend
    raise HotkeyUnavailable("; ".join(problems))
