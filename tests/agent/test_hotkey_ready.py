"""The hotkey hears a chord pressed the moment the agent says it listens (real pynput on Xvfb).

pynput marks its X11 listener ready before RECORD delivers keys; before the fix
1 to 6 of 40 chords injected right after the start were lost (agent/hotkey_x11.py).
The chord is injected through XTest from the same interpreter, right after
``start_hotkey`` returns: nothing between them gives the listener time to catch up.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable

from tests.support.commands import command_env
from tests.support.xserver import XServer

ROUNDS = 40

SCRIPT = textwrap.dedent(
    """
    import sys
    import threading

    from Xlib import X, XK
    from Xlib.display import Display
    from Xlib.ext import xtest

    from agent.chord import parse_chord
    from agent.hotkey import start_hotkey

    display = Display()
    keys = [display.keysym_to_keycode(XK.string_to_keysym(n)) for n in ("Control_L", "Alt_L", "p")]
    heard = 0
    for _ in range(int(sys.argv[1])):
        fired = threading.Event()
        backend = start_hotkey({parse_chord("ctrl+alt+p"): fired.set})
        for key in keys:
            xtest.fake_input(display, X.KeyPress, key)
        for key in reversed(keys):
            xtest.fake_input(display, X.KeyRelease, key)
        display.sync()
        heard += fired.wait(5)
        backend.stop()
    print(heard)
    """
)


def test_a_chord_pressed_right_after_the_start_is_heard(
    xservers: Callable[..., XServer],
) -> None:
    x = xservers(tray=False)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROUNDS)],
        env={**command_env(), "DISPLAY": x.display},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(ROUNDS)], result.stderr
