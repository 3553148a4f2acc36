"""The e-mail channel keeps its SMTP sessions between messages.

A session per message cost a TCP connection, a STARTTLS handshake and a login for each
of an alarm's e-mails. Against a real SMTP server (aiosmtpd: STARTTLS required, then
AUTH), whose logins count the sessions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from dispatch.channels import email as email_channel
from dispatch.channels.base import Sent
from dispatch.channels.content import probe_message
from dispatch.channels.email import EmailChannel
from dispatch.settings import Settings
from tests.support.mailserver import LOGIN, PASSWORD, MailServer, start_mail_server
from tests.support.tls import TlsFiles, make_tls
from tests.support.waiting import until


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    return make_tls(tmp_path)


@pytest.fixture
def mail(tls: TlsFiles) -> Iterator[MailServer]:
    server = start_mail_server(tls)
    try:
        yield server
    finally:
        server.stop()


def channel(tls: TlsFiles, port: int) -> EmailChannel:
    return EmailChannel(
        Settings(
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_username=LOGIN,
            smtp_password=SecretStr(PASSWORD),
            smtp_from="alarm@zentrale.example.org",
            smtp_ca_file=tls.ca,
            channel_send_timeout=5,
        )
    )


async def send_three(sender: EmailChannel) -> None:
    for n in range(3):
        outcome = await sender.send(
            probe_message(str(uuid.uuid4()), "Wache"), f"wache{n}@example.org"
        )
        assert isinstance(outcome, Sent), outcome


async def test_three_messages_go_over_one_session(tls: TlsFiles, mail: MailServer) -> None:
    sender = channel(tls, mail.port)
    try:
        await send_three(sender)
    finally:
        await sender.aclose()
    assert [m.rcpt_tos for m in mail.wait(3)] == [[f"wache{n}@example.org"] for n in range(3)]
    assert all(m.tls for m in mail.received)
    assert mail.logins == [LOGIN]  # one session: one STARTTLS, one login


async def test_a_session_idle_too_long_is_not_reused(
    tls: TlsFiles, mail: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(email_channel, "KEEP_IDLE_S", 0.0)
    sender = channel(tls, mail.port)
    try:
        await send_three(sender)
    finally:
        await sender.aclose()
    mail.wait(3)
    assert mail.logins == [LOGIN] * 3


async def test_a_kept_session_the_server_ended_is_replaced_and_the_message_goes_out(
    tls: TlsFiles,
) -> None:
    """The server ends a session idle for 0.5 s (well inside the sender's 30 s): the next
    message finds the kept session gone and goes out over a new one."""
    server = start_mail_server(tls, idle_timeout=0.5)
    sender = channel(tls, server.port)
    try:
        await send_three(sender)
        [(_, kept)] = sender._kept  # the one session, kept
        await until(lambda: not kept.is_connected, 10)  # the server hung up
        outcome = await sender.send(probe_message(str(uuid.uuid4()), "Wache"), "wache9@example.org")
        assert isinstance(outcome, Sent), outcome
        assert server.wait(4)[-1].rcpt_tos == ["wache9@example.org"]
        assert server.logins == [LOGIN, LOGIN]  # over a new session
    finally:
        await sender.aclose()
        server.stop()
