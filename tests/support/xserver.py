"""A real X display for agent tests: Xvfb on a free display number, trayer as the tray host.

``xserver()`` is a context manager; the ``xservers`` fixture is a factory that
starts as many displays as a test needs (one per agent, because pynput's X11
listener sees every key on its display) and tears them all down afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from tests.support.waiting import wait_until

FIRST_DISPLAY = 90
TRAY_SELECTION = "_NET_SYSTEM_TRAY_S0"
_allocation = threading.Lock()  # two threads must not pick the same number


@dataclass
class XServer:
    """A running Xvfb (and trayer) on ``display`` such as ":91"."""

    number: int
    xvfb: subprocess.Popen[bytes]
    trayer: subprocess.Popen[bytes] | None = None
    _logs: list[IO[bytes]] = field(default_factory=list, repr=False)

    @property
    def display(self) -> str:
        return f":{self.number}"

    def env(self, **extra: str) -> dict[str, str]:
        """os.environ for a child on this display, with Qt on xcb."""
        env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
        env.update(DISPLAY=self.display, QT_QPA_PLATFORM="xcb", **extra)
        return env

    def xdotool(
        self, *args: str, timeout: float = 5.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run xdotool on this display; raises on a non-zero exit unless check is False
        (``search`` exits 1 when nothing matches)."""
        return subprocess.run(
            ["xdotool", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def stop(self) -> None:
        for process in (self.trayer, self.xvfb):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
        for log in self._logs:
            log.close()


def _taken(number: int) -> bool:
    return Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists()


def _accepts_connections(number: int) -> bool:
    if not Path(f"/tmp/.X11-unix/X{number}").exists():
        return False
    probe = subprocess.run(
        ["xdotool", "getdisplaygeometry"],
        env={**os.environ, "DISPLAY": f":{number}"},
        capture_output=True,
        timeout=5,
        check=False,
    )
    return probe.returncode == 0


def _tray_owned(display: str) -> bool:
    from Xlib import X
    from Xlib.display import Display

    connection = Display(display)
    try:
        owner = connection.get_selection_owner(connection.intern_atom(TRAY_SELECTION))
        return bool(owner != X.NONE)
    finally:
        connection.close()


def _start_xvfb(timeout: float, screen: str) -> XServer:
    for _ in range(10):
        with _allocation:
            number = next(n for n in range(FIRST_DISPLAY, FIRST_DISPLAY + 500) if not _taken(n))
            log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in XServer.stop
            xvfb = subprocess.Popen(
                ["Xvfb", f":{number}", "-screen", "0", screen, "-nolisten", "tcp"],
                stdout=log,
                stderr=log,
            )
            server = XServer(number, xvfb, _logs=[log])
            deadline = time.monotonic() + timeout
            while xvfb.poll() is None and time.monotonic() < deadline:
                if _accepts_connections(number):
                    return server
                time.sleep(0.01)
        server.stop()  # lost a race for the number, or too slow: try the next one
    raise RuntimeError("could not start Xvfb")


@contextlib.contextmanager
def xserver(
    *, tray: bool = True, timeout: float = 10.0, screen: str = "1280x800x24"
) -> Iterator[XServer]:
    """Start Xvfb (and trayer, so QSystemTrayIcon.isSystemTrayAvailable() is true)."""
    server = _start_xvfb(timeout, screen)
    try:
        if tray:
            log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in XServer.stop
            server._logs.append(log)
            server.trayer = subprocess.Popen(
                ["trayer", "--edge", "bottom", "--align", "right", "--widthtype", "pixel"],
                env=server.env(),
                stdout=log,
                stderr=log,
            )
            wait_until(lambda: _tray_owned(server.display), timeout, what="trayer owning the tray")
        yield server
    finally:
        server.stop()


@pytest.fixture
def xservers() -> Iterator[Callable[..., XServer]]:
    """Factory fixture: ``xservers()`` starts one more display; all stop after the test."""
    with contextlib.ExitStack() as stack:
        yield lambda **kwargs: stack.enter_context(xserver(**kwargs))


def wait_for_window(display: str, name_regex: str, timeout: float = 5.0) -> int:
    """The id of the first window whose name matches name_regex, polling every ~10 ms."""
    env = {**os.environ, "DISPLAY": display}
    re.compile(name_regex)  # fail fast on a bad pattern instead of timing out

    def search() -> int | None:
        found = subprocess.run(
            ["xdotool", "search", "--name", name_regex],
            env=env,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        ids = found.stdout.split()
        return int(ids[0]) if ids else None

    return wait_until(search, timeout, what=f"window {name_regex!r} on {display}")
