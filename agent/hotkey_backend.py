"""What every global hotkey backend shares: the backend protocol, its failure, how an action runs.

agent/hotkey.py picks a backend and agent/hotkey_windows.py is one; both build on
this module, so neither has to import the other to speak of a backend.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

Action = Callable[[], None]


class HotkeyUnavailable(RuntimeError):
    """No global hotkey on this desktop (no X display, Wayland, missing permission)."""


class HotkeyBackend(Protocol):
    """A running global hotkey; ``stop`` ends it."""

    name: str

    @property
    def listening(self) -> bool:
        """Still receiving key events (the self-test checks this)."""
        ...

    def stop(self) -> None: ...


def run_action(action: Action) -> None:
    """Run a chord's action on the backend's thread; a failing action never ends the backend."""
    try:
        action()
    except Exception:
        log.exception("hotkey action failed")
