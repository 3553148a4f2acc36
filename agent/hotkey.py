"""Global hotkey backends: key events in, one callback per chord press out, nothing kept.

The backend is chosen at run time by ``start_hotkey``: today the pynput
listener (X11 and Windows); a Windows ``RegisterHotKey`` backend can be added
beside it without touching the callers. pynput is imported only inside the
backend because it raises ImportError without a display.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from agent.chord import Chord, ChordMatcher

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


class HotkeyUnavailable(RuntimeError):
    """No global hotkey on this desktop (no X display, Wayland, missing permission)."""


class HotkeyBackend(Protocol):
    """A running global hotkey; ``stop`` ends it."""

    def stop(self) -> None: ...


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


class PynputBackend:
    """pynput's global keyboard listener feeding a ChordMatcher."""

    def __init__(self, chord: Chord, on_fire: Callable[[], None]) -> None:
        try:
            from pynput import keyboard
        except ImportError as exc:  # pynput raises this when it finds no display
            raise HotkeyUnavailable(f"global hotkey unavailable: {exc}") from None
        self._matcher = ChordMatcher(chord)
        self._on_fire = on_fire
        self._listener = keyboard.Listener(on_press=self._press, on_release=self._release)
        self._listener.start()
        self._listener.wait()

    def _press(self, key: Any) -> None:
        try:
            fired = self._matcher.key_down(normalize_pynput_key(key))
        except Exception:  # never let one event kill the listener; never log the key
            log.exception("hotkey event could not be handled")
            return
        if fired:
            try:
                self._on_fire()
            except Exception:
                log.exception("hotkey action failed")

    def _release(self, key: Any) -> None:
        try:
            self._matcher.key_up(normalize_pynput_key(key))
        except Exception:
            log.exception("hotkey event could not be handled")

    def stop(self) -> None:
        self._listener.stop()


def start_hotkey(chord: Chord, on_fire: Callable[[], None]) -> HotkeyBackend:
    """Start the backend for this platform; raises HotkeyUnavailable if none works."""
    backend = PynputBackend(chord, on_fire)
    log.info("hotkey listening for %s", chord)
    return backend
