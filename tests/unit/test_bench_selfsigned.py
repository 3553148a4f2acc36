"""bench.hub --tls's certificates: a client trusting only the run's CA completes a handshake
with the hub's certificate for 127.0.0.1, hostname check included (in memory, no socket)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from bench.selfsigned import HOST, TlsFiles, make_tls


def handshake(client: ssl.SSLContext, server: ssl.SSLContext) -> None:
    """Drives a TLS handshake between two in-memory endpoints until both are done."""
    to_client, to_server = ssl.MemoryBIO(), ssl.MemoryBIO()
    ends = [
        client.wrap_bio(to_client, to_server, server_hostname=HOST),
        server.wrap_bio(to_server, to_client, server_side=True),
    ]
    done = [False, False]
    for _ in range(20):
        for i, end in enumerate(ends):
            if done[i]:
                continue
            try:
                end.do_handshake()
                done[i] = True
            except ssl.SSLWantReadError:
                pass
        if all(done):
            return
    raise AssertionError("the handshake did not finish")


def server_context(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.certificate, files.key)
    return context


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


def test_a_client_trusting_the_runs_ca_accepts_the_hubs_certificate(files: TlsFiles) -> None:
    handshake(files.client_context(), server_context(files))


def test_a_client_trusting_another_ca_refuses_it(files: TlsFiles, tmp_path: Path) -> None:
    stranger = make_tls(tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(stranger.client_context(), server_context(files))


def test_the_private_key_is_readable_by_its_owner_only(files: TlsFiles) -> None:
    assert files.key.stat().st_mode & 0o077 == 0


def test_the_hub_is_pointed_at_the_certificate_and_its_key(files: TlsFiles) -> None:
    assert files.hub_env() == {
        "SILENT_ALARM_TLS_CERTFILE": str(files.certificate),
        "SILENT_ALARM_TLS_KEYFILE": str(files.key),
    }
