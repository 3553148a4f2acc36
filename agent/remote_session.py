"""Whether the agent runs in a remote session (RDS, Citrix, xrdp) and the client device's name.

Qt-free. On a terminal server one host serves many rooms, so the room must come
from the client device (the thin client or PC the person sits at), never from the
host: the agent sends the client's name with its hello and the hub maps it like a
PC (docs/agent.md, "Terminalserver"). One agent runs per session.

Windows: ``GetSystemMetrics(SM_REMOTESESSION)`` says whether the session is remote
(RDS and Citrix ICA alike), ``WTSQuerySessionInformationW(WTS_CURRENT_SERVER_HANDLE,
WTS_CURRENT_SESSION, WTSClientName)`` names the client; ``CLIENTNAME``, which
Windows (and Citrix) set in a remote session's environment, is the fallback.
Linux: xrdp's session manager sets ``XRDP_SESSION`` (and ``XRDP_SOCKET_PATH``) but
passes no client name; an admin's ``/etc/xrdp/startwm.sh`` may export
``CLIENTNAME``. Without a name the session cannot be mapped: the agent says so
("Raum für diese Remote-Sitzung unbekannt") and does not connect, because the
hub would otherwise only know the host, whose room is not the person's.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
from collections.abc import Callable, Mapping
from ctypes import wintypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

SM_REMOTESESSION = 0x1000  # GetSystemMetrics index: nonzero in a remote session
WTS_CURRENT_SERVER_HANDLE = 0
WTS_CURRENT_SESSION = 0xFFFFFFFF  # (DWORD)-1
WTS_CLIENT_NAME = 10  # WTS_INFO_CLASS.WTSClientName
MAX_CLIENT_NAME = 64  # the protocol's bound (shared.protocol.RemoteSession)
LOCAL_NAMES = frozenset({"", "console"})
"""``CLIENTNAME`` values that name no client: a console session's."""


@dataclass(frozen=True, slots=True)
class RemoteSession:
    """A remote session; ``client_name`` None when the session does not say its client."""

    kind: Literal["windows", "xrdp"]
    client_name: str | None

    @property
    def mappable(self) -> bool:
        return self.client_name is not None


class WindowsSessionApi(Protocol):
    """What the agent asks Windows about its session (user32 and wtsapi32 through ctypes)."""

    def is_remote(self) -> bool: ...

    def client_name(self) -> str | None: ...


def clean_name(raw: str | None) -> str | None:
    """A client name fit for the hello, or None (empty, "Console", control characters)."""
    if raw is None:
        return None
    name = raw.strip().strip("\0").strip()
    if name.lower() in LOCAL_NAMES or len(name) > MAX_CLIENT_NAME:
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return None
    return name


def detect(
    environ: Mapping[str, str],
    *,
    platform: str | None = None,
    windows_api: Callable[[], WindowsSessionApi] | None = None,
) -> RemoteSession | None:
    """The remote session the agent runs in, or None on a local desktop."""
    platform = sys.platform if platform is None else platform
    if platform == "win32":
        api = (windows_api or CtypesSessionApi)()
        if not api.is_remote():
            return None
        name = clean_name(api.client_name()) or clean_name(environ.get("CLIENTNAME"))
        return RemoteSession("windows", name)
    if environ.get("XRDP_SESSION") or environ.get("XRDP_SOCKET_PATH"):
        return RemoteSession("xrdp", clean_name(environ.get("CLIENTNAME")))
    return None


def current() -> RemoteSession | None:
    """The session this process runs in (every command asks the same, so they agree)."""
    return detect(os.environ)


def session_data_dir(data_dir: Path, session: RemoteSession | None) -> Path:
    """Where this session's agent keeps its outbox and instance lock.

    One agent runs per session: two sessions of one user on one host (or a data_dir
    an admin shared) must not share an outbox or lock each other out, and the
    ``trigger``/``status`` commands of a session must reach that session's agent.
    """
    if session is None:
        return data_dir
    name = session.client_name or "unnamed"
    return data_dir / f"session-{re.sub(r'[^A-Za-z0-9._-]', '_', name)}"


def _load_dlls() -> tuple[Any, Any]:  # pragma: no cover - Windows only
    # ctypes.WinDLL does not exist elsewhere; the Windows CI workflow runs this.
    user32 = ctypes.WinDLL("user32")  # type: ignore[attr-defined]
    wtsapi32 = ctypes.WinDLL("wtsapi32")  # type: ignore[attr-defined]
    user32.GetSystemMetrics.argtypes = [ctypes.c_int]
    user32.GetSystemMetrics.restype = ctypes.c_int
    wtsapi32.WTSQuerySessionInformationW.argtypes = [
        wintypes.HANDLE,
        wintypes.DWORD,
        ctypes.c_int,
        ctypes.POINTER(wintypes.LPWSTR),
        ctypes.POINTER(wintypes.DWORD),
    ]
    wtsapi32.WTSQuerySessionInformationW.restype = wintypes.BOOL
    wtsapi32.WTSFreeMemory.argtypes = [ctypes.c_void_p]
    wtsapi32.WTSFreeMemory.restype = None
    return user32, wtsapi32


class CtypesSessionApi:
    """The Windows calls through ctypes; the DLLs are injectable, so the calls are tested
    here with stand-ins (the real user32/wtsapi32 exist only on Windows)."""

    def __init__(self, user32: Any = None, wtsapi32: Any = None) -> None:
        if user32 is None or wtsapi32 is None:
            user32, wtsapi32 = _load_dlls()
        self._user32 = user32
        self._wtsapi32 = wtsapi32

    def is_remote(self) -> bool:
        return bool(self._user32.GetSystemMetrics(SM_REMOTESESSION))

    def client_name(self) -> str | None:
        buffer = wintypes.LPWSTR()
        size = wintypes.DWORD()
        if not self._wtsapi32.WTSQuerySessionInformationW(
            WTS_CURRENT_SERVER_HANDLE,
            WTS_CURRENT_SESSION,
            WTS_CLIENT_NAME,
            ctypes.byref(buffer),
            ctypes.byref(size),
        ):
            return None
        try:
            return buffer.value
        finally:
            # The buffer is Windows' own allocation: freed by Windows, never by Python.
            self._wtsapi32.WTSFreeMemory(buffer)
