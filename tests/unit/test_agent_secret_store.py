"""The device secret at rest: sealed where the platform can, always readable where written."""

from __future__ import annotations

import pytest

from agent.config import ConfigError, parse_config
from agent.secret_store import PREFIX, SecretStoreError, protect, reveal


class FakeDpapi:
    """Stands in for crypt32's CryptProtectData/CryptUnprotectData (Windows only, not here)."""

    def seal(self, data: bytes) -> bytes:
        return bytes(b ^ 0x5A for b in data)[::-1]

    def open(self, data: bytes) -> bytes:
        return bytes(b ^ 0x5A for b in data[::-1])


def test_a_sealed_secret_never_shows_the_secret_and_opens_again() -> None:
    stored = protect("geheim-123", FakeDpapi())
    assert stored.startswith(PREFIX)
    assert "geheim" not in stored
    assert reveal(stored, FakeDpapi()) == "geheim-123"


def test_linux_keeps_the_secret_as_it_is_in_its_0600_file() -> None:
    assert protect("geheim-123") == "geheim-123"  # no sealer on this platform
    assert reveal("geheim-123") == "geheim-123"


def test_a_sealed_token_on_a_machine_that_cannot_open_it_names_the_key() -> None:
    with pytest.raises(SecretStoreError):
        reveal(PREFIX + "AAAA")
    with pytest.raises(ConfigError, match=r"'token'.*Windows PC"):
        parse_config(
            {"hub_urls": ["ws://127.0.0.1:1/ws/agent"], "workstation_id": "pc", "token": PREFIX}
        )


def test_a_damaged_sealed_token_is_refused() -> None:
    with pytest.raises(SecretStoreError, match="damaged"):
        reveal(PREFIX + "not base64!", FakeDpapi())
