"""The Windows hotkey falls back to pynput, in an interpreter of its own without a display."""

from __future__ import annotations

from tests.support.fresh_interpreter import run_python


def test_windows_without_user32_falls_back_to_pynput() -> None:
    # On this Linux machine ctypes has no WinDLL, so RegisterHotKey fails for
    # real; without a display pynput fails too, and the error names both tries.
    script = (
        "from agent.chord import parse_chord\n"
        "from agent.hotkey import start_hotkey\n"
        "from agent.hotkey_backend import HotkeyUnavailable\n"
        "try:\n"
        "    start_hotkey({parse_chord('ctrl+alt+p'): print}, platform='win32', environ={})\n"
        "except HotkeyUnavailable as exc:\n"
        "    print(exc)\n"
    )
    out = run_python(script)  # exits 0 without a display
    assert "registerhotkey: RegisterHotKey unavailable" in out
    assert "pynput: global hotkey unavailable" in out
