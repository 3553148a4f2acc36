"""A private certificate authority and a server certificate for 127.0.0.1, for the TLS tests."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # what clients trust (SSL_CERT_FILE for the agent, httpx's verify)
    certificate: Path  # the server's chain
    key: Path

    def spki_pin(self) -> str:
        """The certificate's public key hash, as Chromium's --ignore-certificate-errors-spki-list
        takes it: the browser trusts exactly this key, as it would through the office's CA."""
        certificate = x509.load_pem_x509_certificate(self.certificate.read_bytes())
        spki = certificate.public_key().public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


def make_tls(folder: Path) -> TlsFiles:
    folder.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA(organization_name="Stiller Alarm Test-CA")
    issued = authority.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    authority.cert_pem.write_to_path(str(files.ca))
    issued.private_key_pem.write_to_path(str(files.key))
    with files.certificate.open("wb") as chain:
        for blob in issued.cert_chain_pems:
            chain.write(blob.bytes())
    return files
