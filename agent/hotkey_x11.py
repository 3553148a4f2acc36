"""pynput on X11: whether it can listen here, and a listener that is ready when it hears.

pynput listens through the X RECORD extension. Its own ``Listener.wait()`` returns
before the RECORD context is enabled (pynput 1.8 ``xorg.ListenerMixin._run`` calls
``_mark_ready`` first): a key pressed in that gap is lost, and on a busy PC the gap
is long enough for a chord pressed right after the agent said "hotkey listening"
(measured: 7 to 14 of 20 keys injected right after ``wait()`` were never seen; a
chord right after ``start_hotkey`` returned, 1 to 6 of 40).
The first reply of an enabled context is RECORD's StartOfData, so that reply is
the listener's true start.
"""

from __future__ import annotations

import threading
from typing import Any


def x_record_problem() -> str | None:
    """Why pynput cannot listen on this X display, or None. Without RECORD its
    thread dies before it is ready, silently."""
    try:
        from Xlib.display import Display
        from Xlib.error import DisplayError
    except ImportError:
        return None  # not X11 (pynput on Windows or macOS)
    try:
        display = Display()
    except DisplayError as exc:
        return f"no X display: {exc}"
    try:
        if not display.has_extension("RECORD"):
            return "the X server has no RECORD extension (pynput needs it to see keys)"
    finally:
        display.close()
    return None


def recording_listener_class(listener_class: Any) -> Any:
    """pynput's X11 keyboard Listener with ``recording``, an Event set once the
    RECORD context delivers (its StartOfData reply)."""
    from Xlib.ext.record import StartOfData

    class RecordingListener(listener_class):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.recording = threading.Event()

        def _handler(self, events: Any) -> Any:  # pynput passes every RECORD reply here
            if events.category == StartOfData:
                self.recording.set()
            return super()._handler(events)

    return RecordingListener
