"""The unit layer's rule, enforced while a unit test runs: no process, no network server,
no PostgreSQL, no X display (docs/testing.md, "Test layers")."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]  # ships no type hints
import pytest

from tests.support.postgres import POSTGRES_ADMIN_DSN

RULE = (
    "tests/unit holds tests that start no process, serve no network port, connect to no "
    "PostgreSQL server and need no X display (docs/testing.md, 'Test layers'); "
    "move this test to the layer that runs what it needs"
)
POSTGRES_PORTS = {5432, urlsplit(POSTGRES_ADMIN_DSN).port or 5432}
X_SOCKETS = "/.X11-unix/"


class LayerRuleBroken(AssertionError):
    """A unit test tried something its layer forbids."""


class UnitRule:
    """Patches the ways out of the test process and records every attempt.

    Each attempt raises at once; it is also recorded, because the code under test
    may catch the error (an agent retrying its connection, say) and the test must
    fail all the same.
    """

    def __init__(self) -> None:
        self.breaches: list[str] = []

    def refuse(self, what: str) -> LayerRuleBroken:
        self.breaches.append(what)
        return LayerRuleBroken(f"{what}: {RULE}")

    def enforce(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Refuses processes, servers, PostgreSQL and X until ``monkeypatch`` is undone."""
        rule = self

        def no_process(name: str) -> Callable[..., Any]:
            def refused(*args: object, **kwargs: object) -> Any:
                raise rule.refuse(f"a unit test started a process ({name})")

            return refused

        # Every subprocess.Popen, and so subprocess.run and asyncio's
        # create_subprocess_exec/shell, goes through _execute_child.
        monkeypatch.setattr(subprocess.Popen, "_execute_child", no_process("subprocess.Popen"))
        for name in ("fork", "forkpty", "system", "posix_spawn", "posix_spawnp"):
            if hasattr(os, name):
                monkeypatch.setattr(os, name, no_process(f"os.{name}"))

        def listen(sock: socket.socket, *args: object) -> None:
            raise rule.refuse(f"a unit test served a network port ({sock.getsockname()!r})")

        # socket.socket is a Python subclass of _socket.socket: patching its methods
        # reaches asyncio's servers and clients (websockets, uvicorn, asyncpg) too.
        monkeypatch.setattr(socket.socket, "listen", listen)
        original_connect = socket.socket.connect
        original_connect_ex = socket.socket.connect_ex

        def checked(address: object) -> None:
            if isinstance(address, tuple) and len(address) >= 2 and address[1] in POSTGRES_PORTS:
                raise rule.refuse(f"a unit test connected to PostgreSQL ({address!r})")
            text = os.fsdecode(address) if isinstance(address, str | bytes) else ""
            if ".s.PGSQL." in text:
                raise rule.refuse(f"a unit test connected to PostgreSQL ({text!r})")
            if X_SOCKETS in text:
                raise rule.refuse(f"a unit test connected to an X display ({text!r})")

        def connect(sock: socket.socket, address: Any) -> None:
            checked(address)
            original_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            checked(address)
            return original_connect_ex(sock, address)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)

        async def no_postgres(*args: object, **kwargs: object) -> None:
            raise rule.refuse("a unit test connected to PostgreSQL (asyncpg.connect)")

        monkeypatch.setattr(asyncpg, "connect", no_postgres)
        # Without DISPLAY nothing finds an X server; Qt in a unit test runs offscreen.
        monkeypatch.delenv("DISPLAY", raising=False)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")

    def verdict(self) -> None:
        """Fails the test if it broke the rule, even where the code under test caught it."""
        if self.breaches:
            pytest.fail(f"{'; '.join(self.breaches)}: {RULE}", pytrace=False)
