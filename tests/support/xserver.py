"""A real X display for agent tests: Xvfb on a free display number, trayer as the tray host.

``xserver()`` is a context manager; the ``xservers`` fixture is a factory that
starts as many displays as a test needs (one per agent, because pynput's X11
listener sees every key on its display) and tears them all down afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO

import pytest

from tests.support.waiting import wait_until

TRAY_SELECTION = "_NET_SYSTEM_TRAY_S0"


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


def _tray_owned(display: str) -> bool:
    from Xlib import X
    from Xlib.display import Display

    connection = Display(display)
    try:
        owner = connection.get_selection_owner(connection.intern_atom(TRAY_SELECTION))
        return bool(owner != X.NONE)
    finally:
        connection.close()


def _start_xvfb(timeout: float, screen: str, extra: Sequence[str] = ()) -> XServer:
    """Xvfb picks a free display itself (-displayfd) and writes its number once it
    accepts connections: no race with other test processes over display numbers."""
    ready, announce = os.pipe()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in XServer.stop
    xvfb = subprocess.Popen(
        # -noreset: by default X resets when its last client leaves, and a client
        # connecting during that reset (trayer after our probes) is refused.
        [
            "Xvfb",
            "-displayfd",
            str(announce),
            "-noreset",
            "-screen",
            "0",
            screen,
            "-nolisten",
            "tcp",
            *extra,
        ],
        stdout=log,
        stderr=log,
        pass_fds=(announce,),
    )
    os.close(announce)
    try:
        with os.fdopen(ready, "rb") as pipe:
            readable, _, _ = select.select([pipe], [], [], timeout)
            number = pipe.readline().strip() if readable else b""
    except OSError:
        number = b""
    if not number.isdigit():
        xvfb.kill()
        xvfb.wait(5)
        log.seek(0)
        raise RuntimeError(f"Xvfb did not start within {timeout} s: {log.read()[-500:]!r}")
    return XServer(int(number), xvfb, _logs=[log])


@contextlib.contextmanager
def xserver(
    *,
    tray: bool = True,
    timeout: float = 10.0,
    screen: str = "1280x800x24",
    xvfb_args: Sequence[str] = (),
) -> Iterator[XServer]:
    """Start Xvfb (and trayer, so QSystemTrayIcon.isSystemTrayAvailable() is true).

    xvfb_args go to Xvfb as they are, e.g. ("-extension", "RECORD") for a display
    on which pynput cannot listen for keys.
    """
    server = _start_xvfb(timeout, screen, xvfb_args)
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


AGENT_CLASS = "silent-alarm-agent"
"""The WM_CLASS of every agent window: tray icon, menus, popups, countdown, notice."""


def agent_windows_without_title(x: XServer) -> list[str]:
    """The agent's visible windows that are not named "Stiller Alarm …": the tray icon
    and an open tray menu. The raiser's notice window (issue 13) and popups share the
    agent's WM_CLASS, so a search by class alone may find them first."""
    found = x.xdotool("search", "--onlyvisible", "--class", AGENT_CLASS, check=False)
    titled = x.xdotool("search", "--onlyvisible", "--name", "^Stiller Alarm", check=False)
    named = set(titled.stdout.split())
    return [w for w in found.stdout.split() if w not in named]
