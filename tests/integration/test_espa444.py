"""The ESPA 4.4.4 channel against a local receiver (tests/support/espa_receiver.py): on a
loopback TCP port and on a pty pair standing in for the RS-232 line."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from dispatch.channels.base import Audience, Failed, OutboundMessage, Sent
from dispatch.channels.espa444 import Espa444Channel, EspaConfig
from dispatch.channels.espa444_address import parse_link
from dispatch.channels.espa444_frames import Charset
from dispatch.channels.espa444_session import LineConfig
from tests.support.commands import dispatch_cli
from tests.support.espa_receiver import EspaReceiver, pty_receiver, tcp_receiver

# Generous for the answers that come (a loaded machine must not fail a working line);
# the tests of silence set their own short one.
ANSWERS = LineConfig(answer_timeout=5.0, retries=3)


def channel(url: str, line: LineConfig = ANSWERS, charset: Charset = "ascii") -> Espa444Channel:
    return Espa444Channel(EspaConfig(link=parse_link(url), line=line, charset=charset))


def message(
    subject: str = "Stufe 2 Bedrohung – Raum 1.01 Beratung",
    level: int = 2,
    audience: Audience = Audience.SECURITY,
    room: str | None = "1.01",
) -> OutboundMessage:
    return OutboundMessage(
        alarm_id="7d3c5a9e-0000-4000-8000-000000000001",
        idempotency_key="7d3c5a9e:espa:4711",
        level=level,
        audience=audience,
        site="Jobcenter Mitte",
        room=room,
        subject=subject,
        body=f"{subject}. Bitte sofort hingehen.",
    )


async def test_a_call_arrives_with_its_number_and_text() -> None:
    receiver = EspaReceiver()
    async with tcp_receiver(receiver) as url:
        outcome = await channel(url).send(message(), "4711")
    assert outcome == Sent("ESPA 4711: ACK")
    [call] = receiver.calls
    assert (call.number, call.text) == ("4711", "Stufe 2 Bedrohung - Raum 1.01 Beratung")
    assert call.records["4"] == b"3"  # standard call: beep and display
    assert call.records["6"] == b"1"  # priority alarm
    assert (receiver.selections, receiver.refused) == (1, [])


@pytest.mark.parametrize("reason", ["1", "2", ""])  # transmission error, busy, none given
async def test_a_nak_makes_the_block_go_again_until_acked(reason: str) -> None:
    receiver = EspaReceiver(nak_blocks=2, nak_reason=reason)
    async with tcp_receiver(receiver) as url:
        outcome = await channel(url).send(message(), "4711")
    assert isinstance(outcome, Sent)
    assert len(receiver.blocks) == 3
    assert receiver.blocks[0] == receiver.blocks[1] == receiver.blocks[2]
    assert receiver.refused == ["told to NAK", "told to NAK"]
    assert [call.number for call in receiver.calls] == ["4711"]


async def test_naks_beyond_the_retries_fail_retryable() -> None:
    receiver = EspaReceiver(nak_blocks=100)
    async with tcp_receiver(receiver) as url:
        outcome = await channel(url, LineConfig(answer_timeout=5.0, retries=2)).send(
            message(), "4711"
        )
    assert outcome == Failed("ESPA: the call was answered NAK 1 (3 tries)", retryable=True)
    assert len(receiver.blocks) == 3
    assert receiver.calls == []


async def test_a_number_the_paging_system_refuses_is_not_retried() -> None:
    receiver = EspaReceiver(reject={"999"})
    async with tcp_receiver(receiver) as url:
        outcome = await channel(url).send(message(), "999")
    assert isinstance(outcome, Failed)
    assert not outcome.retryable
    assert "NAK 3" in outcome.reason
    assert len(receiver.blocks) == 1  # refused once, not sent again
    assert receiver.calls == []


async def test_a_declined_selection_is_tried_again() -> None:
    receiver = EspaReceiver(decline_selections=1)
    async with tcp_receiver(receiver) as url:
        outcome = await channel(url).send(message(), "4711")
    assert isinstance(outcome, Sent)
    assert receiver.selections == 2
    assert len(receiver.calls) == 1


async def test_a_refused_connection_fails_retryable() -> None:
    with socket.socket() as placeholder:  # a port nobody listens on
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    outcome = await channel(f"tcp://127.0.0.1:{port}").send(message(), "4711")
    assert outcome == Failed(f"ESPA tcp://127.0.0.1:{port}: Connection refused", retryable=True)


async def test_a_line_dropped_during_the_call_fails_retryable() -> None:
    receiver = EspaReceiver(drop_on_select=True)
    async with tcp_receiver(receiver) as url:
        outcome = await channel(url).send(message(), "4711")
    assert outcome == Failed(f"ESPA {url}: the line was closed during the call", retryable=True)
    assert receiver.calls == []


async def test_a_silent_paging_system_fails_retryable_after_the_retries() -> None:
    receiver = EspaReceiver(silent=True)
    async with tcp_receiver(receiver) as url:
        # Nothing ever answers, so a short timeout cannot cut off an answer on its way.
        outcome = await channel(url, LineConfig(answer_timeout=0.1, retries=1)).send(
            message(), "4711"
        )
    assert outcome == Failed(
        "ESPA: no answer to the selection within 0.1 s (2 tries)", retryable=True
    )


async def test_a_block_that_is_never_answered_is_sent_again() -> None:
    receiver = EspaReceiver(silent_blocks=True)
    async with tcp_receiver(receiver) as url:
        outcome = await channel(url, LineConfig(answer_timeout=0.1, retries=2)).send(
            message(), "4711"
        )
    assert outcome == Failed("ESPA: no answer to the call within 0.1 s (3 tries)")
    assert receiver.selections == 1
    assert len(receiver.blocks) == 3
    assert receiver.blocks[0] == receiver.blocks[2]


async def test_a_line_closed_after_the_ack_still_counts_as_sent() -> None:
    # Reporting it failed would make the queue page the handset a second time.
    receiver = EspaReceiver(drop_after_call=True, status="3")
    line = LineConfig(answer_timeout=5.0, status_timeout=10.0)
    async with tcp_receiver(receiver) as url:
        outcome = await channel(url, line).send(message(), "4711")
    assert outcome == Sent("ESPA 4711: ACK, then the line was closed")
    assert len(receiver.calls) == 1


async def test_a_handset_number_that_is_none_never_opens_the_line() -> None:
    receiver = EspaReceiver()
    async with tcp_receiver(receiver) as url:
        outcome = await channel(url).send(message(), "+49 30 1234")
    assert isinstance(outcome, Failed)
    assert not outcome.retryable
    assert receiver.selections == 0


async def test_level_three_staff_never_learn_the_room() -> None:
    # As the delivery queue renders it by the content rules: the stay-away warning, no room.
    warning = "Stufe 3 Gefahr: NICHT in den Bereich gehen – Tür abschließen, Abstand halten"
    staff = message(subject=warning, level=3, audience=Audience.STAFF, room=None)
    receiver = EspaReceiver()
    async with tcp_receiver(receiver) as url:
        assert isinstance(await channel(url).send(staff, "4711"), Sent)
    [call] = receiver.calls
    assert call.text == (
        "Stufe 3 Gefahr: NICHT in den Bereich gehen - Tuer abschliessen, Abstand halten"
    )
    assert all(b"1.01" not in block and b"Beratung" not in block for block in receiver.blocks)
    assert call.records["6"] == b"1"


async def test_calls_at_once_take_turns_on_the_line() -> None:
    receiver = EspaReceiver()
    async with tcp_receiver(receiver) as url:
        espa = channel(url)
        outcomes = await asyncio.gather(
            *(espa.send(message(), number) for number in ("101", "102", "103"))
        )
    assert all(isinstance(outcome, Sent) for outcome in outcomes)
    assert sorted(call.number for call in receiver.calls) == ["101", "102", "103"]
    assert receiver.refused == []


async def test_the_call_status_paged_is_sent() -> None:
    receiver = EspaReceiver(status="3")
    line = LineConfig(answer_timeout=5.0, status_timeout=10.0, poll_interval=0.01)
    async with tcp_receiver(receiver) as url:
        outcome = await channel(url, line).send(message(), "4711")
    assert outcome == Sent("ESPA 4711: call status 3 (paged)")
    assert receiver.polls == 1


async def test_a_status_block_with_a_bad_bcc_is_asked_for_again() -> None:
    receiver = EspaReceiver(status="6", corrupt_status=1)
    line = LineConfig(answer_timeout=5.0, status_timeout=10.0, poll_interval=0.01)
    async with tcp_receiver(receiver) as url:
        outcome = await channel(url, line).send(message(), "4711")
    assert outcome == Sent("ESPA 4711: call status 6 (acknowledged by the called party)")
    assert receiver.status_answers == [b"1\x15", b"\x06"]  # NAK 1 (transmission error), ACK


async def test_an_absent_handset_is_not_retried() -> None:
    receiver = EspaReceiver(status="4")
    line = LineConfig(answer_timeout=5.0, status_timeout=10.0, poll_interval=0.01)
    async with tcp_receiver(receiver) as url:
        outcome = await channel(url, line).send(message(), "4711")
    assert outcome == Failed("ESPA: handset 4711: call status 4 (absent)", retryable=False)


async def test_no_call_status_in_time_leaves_the_ack() -> None:
    receiver = EspaReceiver()  # takes the call, has never anything to report
    line = LineConfig(answer_timeout=5.0, status_timeout=0.3, poll_interval=0.05)
    async with tcp_receiver(receiver) as url:
        outcome = await channel(url, line).send(message(), "4711")
    assert outcome == Sent("ESPA 4711: ACK, no call status")
    assert receiver.polls >= 1


async def test_a_call_over_the_serial_line() -> None:
    receiver = EspaReceiver(charset="din66003", nak_blocks=1)
    async with pty_receiver(receiver) as url:
        espa = channel(url, charset="din66003")
        first = await espa.send(message("Stufe 1 Unterstützung – Büro 2.14"), "4711")
        second = await espa.send(message("Stufe 2 Bedrohung – Raum 1.01"), "4712")
    assert (first, second) == (Sent("ESPA 4711: ACK"), Sent("ESPA 4712: ACK"))
    assert [(call.number, call.text) for call in receiver.calls] == [
        ("4711", "Stufe 1 Unterstützung - Büro 2.14"),
        ("4712", "Stufe 2 Bedrohung - Raum 1.01"),
    ]
    assert receiver.refused == ["told to NAK"]
    assert len(receiver.blocks) == 3


async def test_a_silent_serial_line_fails_retryable() -> None:
    receiver = EspaReceiver(silent=True)
    async with pty_receiver(receiver) as url:
        outcome = await channel(url, LineConfig(answer_timeout=0.1, retries=0)).send(
            message(), "4711"
        )
    assert outcome == Failed(
        "ESPA: no answer to the selection within 0.1 s (1 try)", retryable=True
    )


async def test_a_missing_serial_device_fails_retryable() -> None:
    outcome = await channel("serial:///dev/ttyESPA-none").send(message(), "4711")
    assert outcome == Failed(
        "ESPA serial:///dev/ttyESPA-none: No such file or directory", retryable=True
    )


def test_a_malformed_espa_address_stops_the_hub_with_one_line(tmp_path: Path) -> None:
    result = dispatch_cli(
        "migrate",
        env={
            "SILENT_ALARM_DATA_DIR": str(tmp_path),
            "SILENT_ALARM_ESPA_ADDRESS": "serial:///dev/ttyS0?baudrate=9601",
        },
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "silent-alarm-dispatch: bad setting espa_address: Value error, "
        "ESPA serial baudrate is one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, "
        "not '9601'"
    )
    assert not (tmp_path / "dispatch.sqlite3").exists()  # nothing done
