"""The e-mail channel: one message per recipient over SMTP with STARTTLS and login (aiosmtplib).

The Message-ID is made from the delivery's idempotency key, so a message re-sent after
a crash carries the same Message-ID as the first attempt and a mail client or an
archive shows it once.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from dispatch.channels.base import ChannelKind, Failed, OutboundMessage, Outcome, Sent, Storeless
from dispatch.channels.errors import one_line
from dispatch.settings import Settings
from dispatch.store.database import Database


class EmailChannel(Storeless):
    def __init__(self, settings: Settings) -> None:
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._starttls = settings.smtp_starttls
        self._username = settings.smtp_username or None
        password = settings.smtp_password
        self._password = password.get_secret_value() if password is not None else None
        self._sender = settings.smtp_from
        self._timeout = settings.channel_send_timeout
        self._tls = ssl.create_default_context(
            cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None
        )

    @property
    def kind(self) -> ChannelKind:
        return ChannelKind.EMAIL

    def message_id(self, idempotency_key: str) -> str:
        domain = self._sender.rpartition("@")[2] or "silent-alarm.invalid"
        return f"<{idempotency_key}@{domain}>"

    def compose(self, message: OutboundMessage, address: str) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self._sender
        mail["To"] = address
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = self.message_id(message.idempotency_key)
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
        mail["X-Priority"] = "1"
        mail.set_content(message.body)
        return mail

    async def send(self, message: OutboundMessage, address: str) -> Outcome:
        mail = self.compose(message, address)
        try:
            await aiosmtplib.send(
                mail,
                hostname=self._host,
                port=self._port,
                start_tls=self._starttls,
                use_tls=False,
                tls_context=self._tls,
                username=self._username,
                password=self._password,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            # The server refused the address itself: trying again will not help.
            return Failed(one_line(error, "SMTP refused the recipient"), retryable=False)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            return Failed(one_line(error, "SMTP"))
        return Sent(reference=str(mail["Message-ID"]))


def build_transmitter(settings: Settings) -> EmailChannel | None:
    """None when no SMTP server is configured."""
    return EmailChannel(settings) if settings.smtp_host else None


def build_channel(settings: Settings, db: Database) -> EmailChannel | None:
    """The hub's side is the same class: e-mail needs nothing from the store."""
    return build_transmitter(settings)
