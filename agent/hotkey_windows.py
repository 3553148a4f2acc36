"""Windows hotkey backend: ``RegisterHotKey`` through ctypes, so Windows hands us only our chords.

Unlike a keyboard hook, ``RegisterHotKey`` never sees any other key: the OS
matches the chord and posts ``WM_HOTKEY`` to the thread that registered it.
That thread runs a ``GetMessageW`` loop; ``stop`` unregisters every chord by
posting ``WM_QUIT`` to it. ``user32``/``kernel32`` are injectable so the loop
is tested here with a stand-in (the real DLLs exist only on Windows).
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Mapping
from ctypes import wintypes
from typing import Any

from agent.chord import Chord
from agent.hotkey_backend import Action, HotkeyUnavailable, run_action

# winuser.h
MOD_ALT = 0x0001
MOD_CONTROL = 0x0002
MOD_SHIFT = 0x0004
MOD_WIN = 0x0008
MOD_NOREPEAT = 0x4000  # auto-repeat of a held chord does not fire again
WM_QUIT = 0x0012
WM_HOTKEY = 0x0312
ERROR_HOTKEY_ALREADY_REGISTERED = 1409

_MODIFIER_FLAGS = {"ctrl": MOD_CONTROL, "alt": MOD_ALT, "shift": MOD_SHIFT, "super": MOD_WIN}
_NAMED_VK = {
    "space": 0x20,
    "page_up": 0x21,
    "page_down": 0x22,
    "end": 0x23,
    "home": 0x24,
    "insert": 0x2D,
    "pause": 0x13,
    "scroll_lock": 0x91,
    **{f"f{n}": 0x70 + n - 1 for n in range(1, 25)},  # VK_F1 = 0x70 … VK_F24 = 0x87
}


def virtual_key(key: str) -> int:
    """The Windows virtual-key code of a chord key ("p" → 0x50, "f9" → 0x78)."""
    if len(key) == 1 and key.isascii() and key.isalnum():
        return ord(key.upper())  # VK_0…VK_9 and VK_A…VK_Z equal the ASCII codes
    try:
        return _NAMED_VK[key]
    except KeyError:
        raise ValueError(f"no virtual-key code for {key!r}") from None


def hotkey_args(chord: Chord) -> tuple[int, int]:
    """``(fsModifiers, vk)`` for ``RegisterHotKey``, always with MOD_NOREPEAT."""
    modifiers = MOD_NOREPEAT
    for name in chord.modifiers:
        modifiers |= _MODIFIER_FLAGS[name]
    return modifiers, virtual_key(chord.key)


def _load_dlls() -> tuple[Any, Any]:
    # Only on Windows; ctypes.WinDLL does not exist elsewhere.
    user32 = ctypes.WinDLL("user32", use_last_error=True)  # type: ignore[attr-defined]
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    user32.RegisterHotKey.argtypes = [wintypes.HWND, ctypes.c_int, wintypes.UINT, wintypes.UINT]
    user32.RegisterHotKey.restype = wintypes.BOOL
    user32.UnregisterHotKey.argtypes = [wintypes.HWND, ctypes.c_int]
    user32.UnregisterHotKey.restype = wintypes.BOOL
    user32.GetMessageW.argtypes = [
        ctypes.POINTER(wintypes.MSG),
        wintypes.HWND,
        wintypes.UINT,
        wintypes.UINT,
    ]
    user32.GetMessageW.restype = wintypes.BOOL
    user32.PostThreadMessageW.argtypes = [
        wintypes.DWORD,
        wintypes.UINT,
        wintypes.WPARAM,
        wintypes.LPARAM,
    ]
    user32.PostThreadMessageW.restype = wintypes.BOOL
    kernel32.GetCurrentThreadId.restype = wintypes.DWORD
    return user32, kernel32


def _last_error() -> int:
    get = getattr(ctypes, "get_last_error", None)  # Windows only
    return int(get()) if get is not None else 0


class RegisterHotKeyBackend:
    """A message-loop thread that owns the registered chords and calls back on WM_HOTKEY."""

    name = "registerhotkey"

    def __init__(
        self,
        bindings: Mapping[Chord, Action],
        *,
        user32: Any = None,
        kernel32: Any = None,
        start_timeout: float = 5.0,
    ) -> None:
        if user32 is None or kernel32 is None:
            try:
                user32, kernel32 = _load_dlls()
            except (AttributeError, OSError) as exc:
                raise HotkeyUnavailable(f"RegisterHotKey unavailable: {exc}") from None
        self._user32 = user32
        self._kernel32 = kernel32
        # Hotkey ids 1, 2, …: WM_HOTKEY carries the id in wParam.
        self._actions = {n: action for n, action in enumerate(bindings.values(), start=1)}
        self._chords = {n: chord for n, chord in enumerate(bindings, start=1)}
        self._thread_id: int | None = None
        self._error: str | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hotkey-win32", daemon=True)
        self._thread.start()
        if not self._ready.wait(start_timeout):
            raise HotkeyUnavailable("RegisterHotKey thread did not start")
        if self._error is not None:
            self._thread.join(start_timeout)
            raise HotkeyUnavailable(self._error)

    def _loop(self) -> None:
        self._thread_id = int(self._kernel32.GetCurrentThreadId())
        registered: list[int] = []
        try:
            # A hotkey registered with hWnd NULL is posted to the registering
            # thread's queue, so registering and the loop share this thread.
            for hotkey_id, chord in self._chords.items():
                modifiers, vk = hotkey_args(chord)
                if not self._user32.RegisterHotKey(None, hotkey_id, modifiers, vk):
                    code = _last_error()
                    taken = code == ERROR_HOTKEY_ALREADY_REGISTERED
                    self._error = f"RegisterHotKey({chord}) failed: " + (
                        "another program holds this chord" if taken else f"error {code}"
                    )
                    return
                registered.append(hotkey_id)
            self._ready.set()
            msg = wintypes.MSG()
            # GetMessageW returns 0 on WM_QUIT and -1 on error: both end the loop.
            while self._user32.GetMessageW(ctypes.pointer(msg), None, 0, 0) > 0:
                if msg.message == WM_HOTKEY:
                    self._fire(int(msg.wParam))
        finally:
            for hotkey_id in registered:
                self._user32.UnregisterHotKey(None, hotkey_id)
            self._ready.set()

    def _fire(self, hotkey_id: int) -> None:
        action = self._actions.get(hotkey_id)
        if action is not None:
            run_action(action)

    @property
    def listening(self) -> bool:
        """The message loop still runs (the self-test checks this)."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread_id is not None and self._thread.is_alive():
            self._user32.PostThreadMessageW(self._thread_id, WM_QUIT, 0, 0)
        self._thread.join(timeout)
