"""Hotkey backends: the choice per platform; the Windows RegisterHotKey mapping and its loop.

``user32.dll`` exists only on Windows; its message loop is exercised here with
a stand-in that keeps RegisterHotKey's contract (hotkeys are posted as
WM_HOTKEY to the registering thread; WM_QUIT ends GetMessageW).
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import pytest

from agent.chord import NAMED_KEYS, parse_chord
from agent.hotkey import backend_names, start_hotkey
from agent.hotkey_backend import HotkeyUnavailable
from agent.hotkey_windows import (
    MOD_ALT,
    MOD_CONTROL,
    MOD_NOREPEAT,
    MOD_SHIFT,
    MOD_WIN,
    WM_HOTKEY,
    WM_QUIT,
    RegisterHotKeyBackend,
    hotkey_args,
    virtual_key,
)


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("win32", {}, ["registerhotkey", "pynput"]),
        ("linux", {"DISPLAY": ":0"}, ["pynput"]),
        ("linux", {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, []),  # XWayland
        ("linux", {"WAYLAND_DISPLAY": "wayland-0"}, []),
        ("linux", {}, []),
        ("darwin", {}, ["pynput"]),
    ],
)
def test_backend_choice(platform: str, environ: dict[str, str], expected: list[str]) -> None:
    assert backend_names(platform, environ) == expected


def test_wayland_names_the_trigger_fallback() -> None:
    chord = parse_chord("ctrl+alt+p")
    with pytest.raises(HotkeyUnavailable, match="silent-alarm-agent trigger"):
        start_hotkey({chord: lambda: None}, platform="linux", environ={"WAYLAND_DISPLAY": "w-0"})


@pytest.mark.parametrize(
    ("text", "modifiers", "vk"),
    [
        ("ctrl+alt+p", MOD_CONTROL | MOD_ALT, 0x50),
        ("ctrl+alt+shift+p", MOD_CONTROL | MOD_ALT | MOD_SHIFT, 0x50),
        ("super+shift+f9", MOD_WIN | MOD_SHIFT, 0x78),
        ("strg+alt+1", MOD_CONTROL | MOD_ALT, 0x31),
        ("pause", 0, 0x13),
        ("ctrl+f24", MOD_CONTROL, 0x87),
        ("alt+space", MOD_ALT, 0x20),
        ("ctrl+scroll_lock", MOD_CONTROL, 0x91),
    ],
)
def test_chord_to_register_hotkey_arguments(text: str, modifiers: int, vk: int) -> None:
    assert hotkey_args(parse_chord(text)) == (modifiers | MOD_NOREPEAT, vk)


def test_every_chord_key_has_a_virtual_key() -> None:
    keys = set(NAMED_KEYS) | set("abcdefghijklmnopqrstuvwxyz0123456789")
    codes = {key: virtual_key(key) for key in keys}
    assert len(set(codes.values())) == len(keys)  # no two keys share a code
    assert codes["a"] == 0x41
    assert codes["z"] == 0x5A
    assert codes["f1"] == 0x70


class FakeUser32:
    """Stand-in for user32.dll: RegisterHotKey, UnregisterHotKey, GetMessageW, PostThreadMessage."""

    def __init__(self, refuse_vk: int | None = None) -> None:
        self.refuse_vk = refuse_vk
        self.registered: dict[int, tuple[int, int]] = {}
        self.registered_on: set[int] = set()
        self.messages: queue.Queue[tuple[int, int]] = queue.Queue()
        self.quit_posted_to: int | None = None

    def RegisterHotKey(self, hwnd: Any, hotkey_id: int, modifiers: int, vk: int) -> int:
        assert hwnd is None  # thread hotkeys: WM_HOTKEY goes to the registering thread
        if vk == self.refuse_vk:
            return 0  # as when another program holds the chord
        self.registered[hotkey_id] = (modifiers, vk)
        self.registered_on.add(threading.get_ident())
        return 1

    def UnregisterHotKey(self, hwnd: Any, hotkey_id: int) -> int:
        assert threading.get_ident() in self.registered_on  # same thread as RegisterHotKey
        return 1 if self.registered.pop(hotkey_id, None) else 0

    def GetMessageW(self, msg_pointer: Any, hwnd: Any, low: int, high: int) -> int:
        message, wparam = self.messages.get(timeout=10)
        msg_pointer.contents.message = message
        msg_pointer.contents.wParam = wparam
        return 0 if message == WM_QUIT else 1

    def PostThreadMessageW(self, thread_id: int, message: int, wparam: int, lparam: int) -> int:
        self.quit_posted_to = thread_id
        self.messages.put((message, wparam))
        return 1

    def press(self, modifiers: int, vk: int) -> None:
        """The user presses a registered chord: Windows posts WM_HOTKEY with its id."""
        hotkey_id = next(i for i, args in self.registered.items() if args == (modifiers, vk))
        self.messages.put((WM_HOTKEY, hotkey_id))


class FakeKernel32:
    def GetCurrentThreadId(self) -> int:
        return threading.get_ident()


def test_register_hotkey_loop_fires_each_chord_and_unregisters_on_stop() -> None:
    user32 = FakeUser32()
    fired: queue.Queue[str] = queue.Queue()
    normal, danger = parse_chord("ctrl+alt+p"), parse_chord("ctrl+alt+shift+p")
    backend = RegisterHotKeyBackend(
        {normal: lambda: fired.put("normal"), danger: lambda: fired.put("danger")},
        user32=user32,
        kernel32=FakeKernel32(),
    )
    assert sorted(user32.registered.values()) == sorted([hotkey_args(normal), hotkey_args(danger)])
    user32.press(*hotkey_args(danger))
    assert fired.get(timeout=5) == "danger"
    user32.messages.put((0x0100, 0x41))  # any other message (WM_KEYDOWN 'A') is ignored
    user32.press(*hotkey_args(normal))
    assert fired.get(timeout=5) == "normal"
    assert fired.empty()
    backend.stop()
    assert user32.registered == {}
    assert user32.quit_posted_to in user32.registered_on
    assert not backend._thread.is_alive()


def test_a_failing_action_does_not_end_the_loop() -> None:
    user32 = FakeUser32()
    fired: queue.Queue[str] = queue.Queue()
    calls = iter([RuntimeError("boom"), None])

    def action() -> None:
        error = next(calls)
        if error is not None:
            raise error
        fired.put("ok")

    chord = parse_chord("ctrl+alt+p")
    backend = RegisterHotKeyBackend({chord: action}, user32=user32, kernel32=FakeKernel32())
    user32.press(*hotkey_args(chord))
    user32.press(*hotkey_args(chord))
    assert fired.get(timeout=5) == "ok"
    backend.stop()


def test_a_refused_chord_raises_and_releases_the_others() -> None:
    user32 = FakeUser32(refuse_vk=0x13)
    with pytest.raises(HotkeyUnavailable, match=r"RegisterHotKey\(pause\) failed"):
        RegisterHotKeyBackend(
            {parse_chord("ctrl+alt+p"): lambda: None, parse_chord("pause"): lambda: None},
            user32=user32,
            kernel32=FakeKernel32(),
        )
    assert user32.registered == {}  # ctrl+alt+p was registered first and released again
