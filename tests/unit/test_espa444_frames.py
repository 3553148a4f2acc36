"""ESPA 4.4.4 framing, the BCC, pager text per charset, link addresses and the ESPA settings."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from dispatch.channels.base import ChannelKind, Failed, Sent
from dispatch.channels.espa444 import build_channel, priority_for
from dispatch.channels.espa444_address import SerialLink, TcpLink, parse_link
from dispatch.channels.espa444_frames import (
    SOH,
    Block,
    Charset,
    FrameError,
    NakReason,
    Priority,
    bcc,
    call_block,
    charset_repertoire,
    decode_block,
    encode_block,
    pager_text,
    read_pager_text,
)
from dispatch.channels.espa444_session import status_outcome
from dispatch.settings import Settings
from dispatch.store.database import Database

CHARSETS: tuple[Charset, ...] = ("ascii", "din66003", "latin1")
# No deadline per example: a busy machine must not fail a property that holds.
PROPERTY = settings(deadline=None)


# --- known-good frames, worked out by hand ----------------------------------------


def test_a_small_block_and_its_bcc_worked_out_by_hand() -> None:
    # SOH '1' STX '1' US '4711' RS '2' US 'Hi' ETX; the BCC is the XOR after SOH:
    # 31^02=33 ^31=02 ^1F=1D ^34=29 ^37=1E ^31=2F ^31=1E ^1E=00 ^32=32 ^1F=2D ^48=65 ^69=0C ^03=0F
    block = Block("1", (("1", b"4711"), ("2", b"Hi")))
    expected = bytes.fromhex("01 31 02 31 1F 34 37 31 31 1E 32 1F 48 69 03 0F")
    assert encode_block(block) == expected
    assert decode_block(expected) == block


def test_a_call_to_a_handset_worked_out_by_hand() -> None:
    # Records 1 call address, 2 display message, 4 call type '3' (standard), 5 one
    # transmission, 6 priority '1' (alarm). Up to "Hi" the XOR is 0C (above), then
    # ^1E=12 ^34=26 ^1F=39 ^33=0A ^1E=14 ^35=21 ^1F=3E ^31=0F ^1E=11 ^36=27 ^1F=38 ^31=09
    # and ETX: ^03=0A.
    frame = encode_block(call_block("4711", b"Hi", Priority.ALARM))
    assert frame == (
        b"\x011\x021\x1f4711\x1e2\x1fHi\x1e4\x1f3\x1e5\x1f1\x1e6\x1f1\x03" + bytes([0x0A])
    )


def test_beep_coding_and_transmissions_are_records_3_and_5() -> None:
    block = call_block("12", b"x", Priority.HIGH, beep="4", transmissions=3)
    assert [ident for ident, _ in block.records] == ["1", "2", "3", "4", "5", "6"]
    assert (block.get("3"), block.get("5"), block.get("6")) == (b"4", b"3", b"2")


def test_a_bcc_with_the_value_of_etx_ends_the_block_all_the_same() -> None:
    # SOH '1' STX '1' US 'A\' ETX: 31^02=33 ^31=02 ^1F=1D ^41=5C ^5C=00 ^03=03, so the BCC
    # is the byte ETX. The first ETX ends the data, the byte after it is the BCC whatever
    # its value (the annotated ESPA 4.4.4 warns that implementers forget this).
    frame = encode_block(Block("1", (("1", b"A\\"),)))
    assert frame == b"\x011\x021\x1fA\\\x03\x03"
    assert decode_block(frame).get("1") == b"A\\"


@pytest.mark.parametrize(
    ("frame", "nak"),
    [
        (b"\x011\x021\x1f4711\x03\x00", NakReason.TRANSMISSION_ERROR),  # wrong BCC
        (b"\x011\x1f4711\x03" + bytes([0x31 ^ 0x1F ^ 0x34 ^ 0x37 ^ 0x31 ^ 0x31 ^ 0x03]), "3"),
        (b"\x01x\x021\x1f4711\x03" + bytes([bcc(b"x\x021\x1f4711\x03")]), "3"),
        (b"\x011\x024711\x03" + bytes([bcc(b"1\x024711\x03")]), "3"),  # record without US
        (b"\x011\x021\x1f47\x0511\x03" + bytes([bcc(b"1\x021\x1f47\x0511\x03")]), "1"),
        (b"1\x021\x1f4711\x03\x0f", "1"),  # no SOH
    ],
)
def test_a_bad_block_is_refused_with_the_nak_reason(frame: bytes, nak: str) -> None:
    with pytest.raises(FrameError) as refused:
        decode_block(frame)
    assert refused.value.nak == nak


def test_a_trailing_record_separator_is_tolerated() -> None:
    body = b"2\x021\x1f4711\x1e7\x1f3\x1e\x03"  # "RS ETX", as some systems send it
    assert decode_block(bytes([SOH]) + body + bytes([bcc(body)])).get("7") == b"3"


@pytest.mark.parametrize("data", [b"a\x1eb", b"\x03", b"\x7f", b"line\nbreak"])
def test_data_with_a_control_character_is_never_framed(data: bytes) -> None:
    with pytest.raises(ValueError, match="control character"):
        encode_block(Block("1", (("2", data),)))


@pytest.mark.parametrize("number", ["", "12a", "+4930", "12345678901234567", "１２"])
def test_a_call_address_is_one_to_sixteen_digits(number: str) -> None:
    with pytest.raises(ValueError, match="16 digits"):
        call_block(number, b"x", Priority.ALARM)


# --- pager text -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("charset", "expected"),
    [
        ("ascii", b"Stufe 2 - Bedrohung: Buero Mueller, Strasse 1 (Raum [1.01])"),
        ("din66003", b"Stufe 2 - Bedrohung: B}ro M}ller, Stra~e 1 (Raum (1.01))"),
        ("latin1", "Stufe 2 - Bedrohung: Büro Müller, Straße 1 (Raum [1.01])".encode("latin-1")),
    ],
)
def test_umlauts_per_charset(charset: Charset, expected: bytes) -> None:
    subject = "Stufe 2 – Bedrohung:\nBüro Müller,  Straße 1 (Raum [1.01])"
    assert pager_text(subject, charset) == expected


def test_din66003_shows_the_umlauts_it_was_sent() -> None:
    assert read_pager_text(pager_text("ÄÖÜ äöü ß §", "din66003"), "din66003") == "ÄÖÜ äöü ß §"


def test_what_no_charset_has_is_written_out_or_a_question_mark() -> None:
    assert pager_text("Café „Zur Post“ … 5 €", "ascii") == b'Cafe "Zur Post" ... 5 EUR'
    assert pager_text("Alarm 🚨 Ⅱ", "ascii") == b"Alarm ? II"


def test_the_cut_falls_after_writing_out() -> None:
    assert pager_text("Müll", "ascii", limit=3) == b"Mue"
    assert len(pager_text("x" * 500, "latin1")) == 128


@PROPERTY
@given(text=st.text(), charset=st.sampled_from(CHARSETS), limit=st.integers(1, 200))
def test_any_text_becomes_printable_bytes_within_the_limit(
    text: str, charset: Charset, limit: int
) -> None:
    sent = pager_text(text, charset, limit)
    assert len(sent) <= limit
    top = 0xFF if charset == "latin1" else 0x7E
    assert all(0x20 <= byte <= top and not 0x7F <= byte <= 0x9F for byte in sent)
    encode_block(call_block("1", sent, Priority.ALARM))  # always frameable


@st.composite
def shown_text(draw: st.DrawFn) -> tuple[Charset, str]:
    charset = draw(st.sampled_from(CHARSETS))
    letters = sorted(set(charset_repertoire(charset)) - {" "})
    words = draw(st.lists(st.text(st.sampled_from(letters), min_size=1, max_size=12), min_size=1))
    return charset, " ".join(words)[:128].strip()


@PROPERTY
@given(case=shown_text())
def test_text_in_the_charset_is_shown_as_it_was_written(case: tuple[Charset, str]) -> None:
    charset, text = case
    assert read_pager_text(pager_text(text, charset), charset) == text


# --- blocks: round trips ------------------------------------------------------------

DATA = st.binary(max_size=40).map(lambda data: bytes(b for b in data if b >= 0x20 and b != 0x7F))
IDENT = st.integers(0, 99).map(str)


@PROPERTY
@given(header=st.sampled_from("12345"), records=st.lists(st.tuples(IDENT, DATA), max_size=8))
def test_blocks_survive_encoding(header: str, records: list[tuple[str, bytes]]) -> None:
    block = Block(header, tuple(records))
    frame = encode_block(block)
    assert decode_block(frame) == block
    # ESPA 4.4.4, 4.1: with the BCC the longitudinal parity of the block is even.
    assert bcc(frame[1:]) == 0


@PROPERTY
@given(frame=st.binary(max_size=60))
def test_no_bytes_crash_the_decoder(frame: bytes) -> None:
    with contextlib.suppress(FrameError):
        decode_block(frame)


@PROPERTY
@given(number=st.from_regex(r"\A[0-9]{1,16}\Z"), flip=st.integers(1, 200), bit=st.integers(0, 6))
def test_one_flipped_bit_is_always_found(number: str, flip: int, bit: int) -> None:
    frame = bytearray(encode_block(call_block(number, b"Stufe 3", Priority.ALARM)))
    at = 1 + flip % (len(frame) - 1)
    frame[at] ^= 1 << bit
    with pytest.raises(FrameError):
        decode_block(bytes(frame))


# --- what a call status, a level and an address mean ---------------------------------


@pytest.mark.parametrize(
    ("status", "sent", "retryable"),
    [
        ("2", True, None),  # in queue
        ("3", True, None),  # paged
        ("6", True, None),  # acknowledged by the called party
        ("1", False, True),  # busy
        ("4", False, False),  # absent: no reachable handset by that number
        ("8", False, True),  # fault
        ("9", False, True),  # unknown
    ],
)
def test_call_status(status: str, sent: bool, retryable: bool | None) -> None:
    outcome = status_outcome("4711", status)
    if sent:
        assert isinstance(outcome, Sent)
        assert status in outcome.reference
    else:
        assert isinstance(outcome, Failed)
        assert outcome.retryable is retryable
        assert "4711" in outcome.reason


def test_threat_and_danger_page_as_alarm() -> None:
    assert [priority_for(level) for level in (1, 2, 3)] == ["2", "1", "1"]


@pytest.mark.parametrize(
    ("url", "link"),
    [
        ("tcp://paging.example:2023", TcpLink("paging.example", 2023)),
        (" tcp://10.0.0.7:4000 ", TcpLink("10.0.0.7", 4000)),
        ("serial:///dev/ttyUSB0", SerialLink("/dev/ttyUSB0")),
        (
            "serial:///dev/ttyS1?baudrate=19200&bytesize=8&parity=n&stopbits=2",
            SerialLink("/dev/ttyS1", 19200, 8, "N", 2),
        ),
    ],
)
def test_link_addresses(url: str, link: TcpLink | SerialLink) -> None:
    assert parse_link(url) == link


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://x:1", "tcp://host:port or serial://"),
        ("tcp://paging.example", "needs a host and a port"),
        ("tcp://paging.example:99999", "needs a host and a port"),
        ("tcp://:2023", "needs a host and a port"),
        ("serial://ttyUSB0", "under /dev"),
        ("serial:///tmp/line", "under /dev"),
        ("serial:///dev/ttyS0?speed=9600", "unknown ESPA serial option 'speed'"),
        ("serial:///dev/ttyS0?baudrate=1234", "baudrate is one of"),
        ("serial:///dev/ttyS0?parity=X", "parity is one of"),
    ],
)
def test_a_wrong_link_address_says_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says.replace("(", r"\(").replace("?", r"\?")):
        parse_link(url)


def test_a_wrong_espa_setting_refuses_to_start() -> None:
    with pytest.raises(ValidationError, match="needs a host and a port"):
        Settings(espa_address="tcp://paging.example")
    with pytest.raises(ValidationError, match="must differ"):
        Settings(espa_own_address="2")
    with pytest.raises(ValidationError, match="espa_beep_coding"):
        Settings(espa_beep_coding="0")
    assert Settings(espa_address="  ", espa_beep_coding="").espa_link is None


async def test_the_channel_exists_only_with_an_address(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        assert build_channel(Settings(), db) is None
        channel = build_channel(Settings(espa_address="tcp://127.0.0.1:2023"), db)
        assert channel is not None
        assert channel.kind is ChannelKind.ESPA
    finally:
        await db.dispose()
