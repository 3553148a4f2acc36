"""A private CA and a server certificate for 127.0.0.1, made for one ``bench.hub --tls`` run.

Made with ``cryptography`` (the hub's own dependency), not trustme as in the tests: the
bench runs from the "bench" extra alone. Two certificates, not one self-signed leaf,
so the clients verify a chain as they would against an office's CA (hostname check
included). ECDSA P-256 keys, what a current internal CA issues; the key type changes a
handshake's CPU, hardly the memory an idle connection holds.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOST = "127.0.0.1"
VALID = datetime.timedelta(days=2)  # a run, and a clock that is a little off


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # what the clients trust
    certificate: Path  # the hub's certificate (SILENT_ALARM_TLS_CERTFILE)
    key: Path  # its private key (SILENT_ALARM_TLS_KEYFILE)

    def client_context(self) -> ssl.SSLContext:
        """What a simulated agent connects with: Python's defaults, trusting only the CA."""
        return ssl.create_default_context(cafile=str(self.ca))

    def hub_env(self) -> dict[str, str]:
        return {
            "SILENT_ALARM_TLS_CERTFILE": str(self.certificate),
            "SILENT_ALARM_TLS_KEYFILE": str(self.key),
        }


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def make_tls(folder: Path) -> TlsFiles:
    """Writes ca.pem, server.pem and server.key (readable by this user only) into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Stiller Alarm Bench-CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + VALID)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(_name(HOST))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + VALID)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    files.ca.write_bytes(_pem(ca))
    files.certificate.write_bytes(_pem(server))
    files.key.touch(mode=0o600)
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files
