"""The device secret at rest: DPAPI-protected on Windows, a mode-0600 file elsewhere.

On Windows the secret is sealed with ``CryptProtectData`` for the local machine
(every user of this PC may open it, the file copied to another PC opens
nowhere) and written as ``dpapi:<base64>``. Linux has no such store for a
machine-wide secret: it is plain, and the file's mode decides who reads it
(agent/enrol_target.py: 0644 for every user of the PC, 0600 for one; the threat
is in docs/security.md). Plain secrets are read everywhere, so configs written
before this existed keep working.
"""

from __future__ import annotations

import base64
import binascii
import sys
from typing import Any, Protocol

PREFIX = "dpapi:"
_CRYPTPROTECT_UI_FORBIDDEN = 0x1
_CRYPTPROTECT_LOCAL_MACHINE = 0x4


class SecretStoreError(ValueError):
    """A protected secret this machine cannot open."""


class Sealer(Protocol):
    def seal(self, data: bytes) -> bytes: ...
    def open(self, data: bytes) -> bytes: ...


class WindowsDpapi:
    """crypt32.dll's CryptProtectData/CryptUnprotectData through ctypes (Windows only)."""

    def __init__(self) -> None:
        import ctypes
        from ctypes import wintypes

        class Blob(ctypes.Structure):
            _fields_ = [("cbData", wintypes.DWORD), ("pbData", ctypes.POINTER(ctypes.c_char))]

        self._ctypes: Any = ctypes
        self._blob: Any = Blob
        self._crypt32: Any = ctypes.windll.crypt32  # type: ignore[attr-defined]
        self._kernel32: Any = ctypes.windll.kernel32  # type: ignore[attr-defined]

    def _call(self, function: Any, data: bytes) -> bytes:
        ctypes = self._ctypes
        buffer = ctypes.create_string_buffer(data, len(data))
        blob_in = self._blob(len(data), ctypes.cast(buffer, ctypes.POINTER(ctypes.c_char)))
        blob_out = self._blob()
        flags = _CRYPTPROTECT_UI_FORBIDDEN | _CRYPTPROTECT_LOCAL_MACHINE
        if not function(
            ctypes.byref(blob_in), None, None, None, None, flags, ctypes.byref(blob_out)
        ):
            raise SecretStoreError(f"DPAPI failed (Windows error {ctypes.GetLastError()})")
        try:
            return bytes(ctypes.string_at(blob_out.pbData, blob_out.cbData))
        finally:
            self._kernel32.LocalFree(blob_out.pbData)

    def seal(self, data: bytes) -> bytes:
        return self._call(self._crypt32.CryptProtectData, data)

    def open(self, data: bytes) -> bytes:
        return self._call(self._crypt32.CryptUnprotectData, data)


def _platform_sealer() -> Sealer | None:
    return WindowsDpapi() if sys.platform == "win32" else None


def protect(secret: str, sealer: Sealer | None = None) -> str:
    """What the config file stores for ``secret`` on this platform."""
    sealer = sealer or _platform_sealer()
    if sealer is None:
        return secret
    return PREFIX + base64.b64encode(sealer.seal(secret.encode("utf-8"))).decode("ascii")


def reveal(stored: str, sealer: Sealer | None = None) -> str:
    """The secret itself, from what the config file holds."""
    if not stored.startswith(PREFIX):
        return stored
    sealer = sealer or _platform_sealer()
    if sealer is None:
        raise SecretStoreError("a DPAPI-protected token opens only on the Windows PC that wrote it")
    try:
        return sealer.open(base64.b64decode(stored[len(PREFIX) :], validate=True)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise SecretStoreError(f"the protected token is damaged: {error}") from None
