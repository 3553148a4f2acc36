"""A real SMTP server on a loopback port (aiosmtpd): STARTTLS required before AUTH, one login."""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.hub import free_port
from tests.support.tls import TlsFiles

LOGIN = "zentrale@example.org"
PASSWORD = "smtp-geheim-Passwort-7781"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool  # the session had switched to TLS before the message


@dataclass
class MailServer:
    """Messages accepted, in order; ``wait`` blocks until a condition holds (bounded)."""

    port: int
    controller: Controller | None = None
    received: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def wait(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"{len(self.received)} mails after {timeout} s, not {count}")
            return list(self.received)

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()

    # aiosmtpd's hooks -------------------------------------------------------------

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.changed:
            self.received.append(
                Received(
                    str(envelope.mail_from),
                    list(envelope.rcpt_tos),
                    parsed,
                    tls=session.ssl is not None,
                )
            )
            self.changed.notify_all()
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and (data.login, data.password) == (
            LOGIN.encode(),
            PASSWORD.encode(),
        ):
            self.logins.append(LOGIN)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


def start_mail_server(tls: TlsFiles, idle_timeout: float = 300.0) -> MailServer:
    """Requires STARTTLS, and AUTH only after it (aiosmtpd's auth_require_tls). A session idle
    for ``idle_timeout`` seconds is ended by the server (RFC 5321: at least 5 minutes)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.certificate, tls.key)
    port = free_port()
    server = MailServer(port)
    server.controller = Controller(
        server,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=server.authenticate,
        auth_required=True,
        auth_require_tls=True,
        timeout=idle_timeout,
    )
    server.controller.start()
    return server
