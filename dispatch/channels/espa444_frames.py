"""ESPA 4.4.4 framing without I/O: control characters, data blocks, the BCC and pager text.

ESPA 4.4.4 (European Selective Paging Association, 1984) is the serial interface
that paging and DECT systems (Ascom, Unify, Mitel) take calls on. It rides on
ISO 1745 basic mode: a data block is

    SOH <header> STX <id> US <data> RS <id> US <data> ... ETX <BCC>

where the header names the transaction ('1' call to pager, '2' status information),
each record is an identifier and its data, and the BCC (block check character) is
the XOR of every byte after SOH up to and including ETX. Data never contains a
control character (below 0x20), so the first ETX ends a block whatever the BCC is.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import reduce
from operator import xor
from typing import Literal

SOH = 0x01  # start of header
STX = 0x02  # start of text
ETX = 0x03  # end of text; the BCC follows
EOT = 0x04  # end of transmission: the line returns to the control station
ENQ = 0x05  # after an address: poll or select that station
ACK = 0x06
NAK = 0x15  # may be preceded by a reason digit (NakReason)
RS = 0x1E  # record separator
US = 0x1F  # unit separator: between a record's identifier and its data

MAX_CALL_ADDRESS = 16  # digits of a call address (ESPA 4.4.4, 4.3)
MAX_DISPLAY_MESSAGE = 128  # characters of a display message (ESPA 4.4.4, 4.3)

Charset = Literal["ascii", "din66003", "latin1"]


class Header(StrEnum):
    """What a data block is (ESPA 4.4.4, 4.2)."""

    CALL_TO_PAGER = "1"
    STATUS_INFORMATION = "2"
    STATUS_REQUEST = "3"
    CALL_TO_SUBSCRIBER_LINE = "4"
    OTHER_INFORMATION = "5"


class RecordId(StrEnum):
    """The data identifiers of the records (ESPA 4.4.4, 4.3)."""

    CALL_ADDRESS = "1"  # the handset or pager number, up to 16 digits
    DISPLAY_MESSAGE = "2"  # up to 128 characters
    BEEP_CODING = "3"  # '1'-'9', the paging system's own tunes
    CALL_TYPE = "4"
    NUMBER_OF_TRANSMISSIONS = "5"
    PRIORITY = "6"
    CALL_STATUS = "7"  # in status information from the paging system
    SYSTEM_STATUS = "8"


class CallType(StrEnum):
    RESET = "1"  # cancel the call
    SPEECH = "2"
    STANDARD = "3"  # beep and display, no speech path


class Priority(StrEnum):
    ALARM = "1"
    HIGH = "2"
    NORMAL = "3"


class NakReason(StrEnum):
    """The digit a station may send before NAK (ESPA 4.4.4, 2.4)."""

    TRANSMISSION_ERROR = "1"  # corrupt characters or a wrong BCC: send the block again
    BUSY = "2"  # cannot take a transaction now (queue full)
    INVALID_MESSAGE = "3"  # type or content not recognised: sending it again cannot help


CALL_STATUS = {
    "1": "busy",
    "2": "in queue",
    "3": "paged",
    "4": "absent",
    "5": "call terminated",
    "6": "acknowledged by the called party",
    "7": "speech channel open",
    "71": "speech channel open (paged)",
    "72": "speech channel open (absent)",
    "8": "fault",
}
"""Record 7 of status information, the paging system's word on one call (ESPA 4.4.4, 4.3)."""


class FrameError(ValueError):
    """A data block that is not well formed; ``nak`` is the reason digit to answer with."""

    def __init__(self, message: str, nak: NakReason = NakReason.TRANSMISSION_ERROR) -> None:
        super().__init__(message)
        self.nak = nak


@dataclass(frozen=True, slots=True)
class Block:
    """One data block: its header and its records in order (identifier, data bytes)."""

    header: str
    records: tuple[tuple[str, bytes], ...]

    def get(self, record: str) -> bytes | None:
        """The data of the first record with this identifier."""
        return next((data for ident, data in self.records if ident == record), None)


def bcc(data: bytes | bytearray) -> int:
    """The block check character of the bytes after SOH up to and including ETX."""
    return reduce(xor, data, 0)


def encode_block(block: Block) -> bytes:
    """The block as it goes on the line, BCC included."""
    _check_identifier(block.header, "header")
    body = bytearray(block.header.encode("ascii"))
    body.append(STX)
    for index, (ident, data) in enumerate(block.records):
        _check_identifier(ident, "record identifier")
        if any(byte < 0x20 or byte == 0x7F for byte in data):
            raise ValueError(f"record {ident} holds a control character")
        if index:
            body.append(RS)
        body += ident.encode("ascii")
        body.append(US)
        body += data
    body.append(ETX)
    return bytes([SOH, *body, bcc(body)])


def decode_block(frame: bytes) -> Block:
    """The block in ``frame`` (SOH … ETX BCC); FrameError naming what is wrong."""
    if len(frame) < 4 or frame[0] != SOH or frame[-2] != ETX:
        raise FrameError("not a data block (SOH … ETX BCC)")
    body = frame[1:-1]
    if bcc(body) != frame[-1]:
        raise FrameError(f"BCC {frame[-1]:#04x} does not match the block ({bcc(body):#04x})")
    header, stx, text = body[:-1].partition(bytes([STX]))
    if not stx:
        raise FrameError("no STX after the header", NakReason.INVALID_MESSAGE)
    if any(byte < 0x20 for byte in header) or any(
        byte < 0x20 and byte not in (RS, US) for byte in text
    ):
        raise FrameError("a control character inside the block")
    name = header.decode("latin-1")
    if not _is_identifier(name):
        raise FrameError(f"header {name!r} is not a number", NakReason.INVALID_MESSAGE)
    records: list[tuple[str, bytes]] = []
    # An empty record is skipped: some systems end their blocks with RS ETX.
    for record in filter(None, text.split(bytes([RS]))):
        ident, us, data = record.partition(bytes([US]))
        if not us or not _is_identifier(ident.decode("latin-1")):
            raise FrameError("a record without its identifier", NakReason.INVALID_MESSAGE)
        records.append((ident.decode("ascii"), data))
    return Block(name, tuple(records))


def call_block(
    number: str,
    text: bytes,
    priority: Priority,
    *,
    beep: str | None = None,
    transmissions: int = 1,
) -> Block:
    """A call to the handset ``number`` showing ``text`` (already encoded, see pager_text)."""
    if not is_call_address(number):
        raise ValueError(f"a call address is 1 to {MAX_CALL_ADDRESS} digits")
    records: list[tuple[str, bytes]] = [
        (RecordId.CALL_ADDRESS, number.encode("ascii")),
        (RecordId.DISPLAY_MESSAGE, text),
    ]
    if beep is not None:
        records.append((RecordId.BEEP_CODING, beep.encode("ascii")))
    records += [
        (RecordId.CALL_TYPE, CallType.STANDARD.encode("ascii")),
        (RecordId.NUMBER_OF_TRANSMISSIONS, str(transmissions).encode("ascii")),
        (RecordId.PRIORITY, priority.encode("ascii")),
    ]
    return Block(Header.CALL_TO_PAGER, tuple(records))


def is_call_address(number: str) -> bool:
    return 1 <= len(number) <= MAX_CALL_ADDRESS and number.isascii() and number.isdigit()


def _is_identifier(text: str) -> bool:
    return bool(text) and text.isascii() and text.isdigit()


def _check_identifier(text: str, what: str) -> None:
    if not _is_identifier(text):
        raise ValueError(f"an ESPA {what} is one or more digits, not {text!r}")


# --- pager text ---------------------------------------------------------------------
#
# ESPA 4.4.4 sends 7-bit characters (ISO 646, 2.2): plain ASCII has no umlauts.
# German paging and DECT systems read one of three things, set per installation:
#   ascii     ISO 646 IRV: umlauts written out (Ä → Ae, ß → ss); every display shows it.
#   din66003  the German reference version of ISO 646 (DIN 66003): Ä Ö Ü ä ö ü ß §
#             take the places of [ \ ] { | } ~ @, so those ASCII signs cannot be sent
#             and are replaced by look-alikes.
#   latin1    8-bit ISO 8859-1, which many newer DECT systems take (8 data bits).

_GERMAN = {"Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"}
_TYPOGRAPHIC = {
    "–": "-",
    "—": "-",
    "‑": "-",
    "„": '"',
    "“": '"',
    "”": '"',
    "‚": "'",
    "‘": "'",
    "’": "'",
    "…": "...",
    "€": "EUR",
    "•": "*",
}
DIN_66003 = {"§": "@", "Ä": "[", "Ö": "\\", "Ü": "]", "ä": "{", "ö": "|", "ü": "}", "ß": "~"}
"""The German characters of DIN 66003 and the ASCII code points they occupy."""
_DIN_66003_LOOKALIKES = {
    "@": "(at)",
    "[": "(",
    "\\": "/",
    "]": ")",
    "{": "(",
    "|": "/",
    "}": ")",
    "~": "-",
}
_FROM_DIN_66003 = {ord(code): char for char, code in DIN_66003.items()}


def pager_text(text: str, charset: Charset, limit: int = MAX_DISPLAY_MESSAGE) -> bytes:
    """``text`` as a display message: in ``charset``, one line, at most ``limit`` bytes.

    Line breaks and other control characters become spaces; a character the charset
    lacks is written out (German rules first, then its base letter without accents),
    or becomes '?'. The cut falls after the transliteration, so no character is split.
    """
    flat = " ".join("".join(" " if unicodedata.category(c)[0] == "C" else c for c in text).split())
    out = "".join(_char_in(char, charset) for char in flat)
    encoded = out.encode("latin-1" if charset == "latin1" else "ascii")
    return encoded[:limit]


def read_pager_text(data: bytes, charset: Charset) -> str:
    """What a display in ``charset`` shows for ``data`` (the receiving side of pager_text)."""
    if charset == "latin1":
        return data.decode("latin-1")
    text = data.decode("ascii")
    return text.translate(_FROM_DIN_66003) if charset == "din66003" else text


def charset_repertoire(charset: Charset) -> Iterable[str]:
    """Every character that pager_text sends unchanged in ``charset``."""
    printable = [chr(code) for code in range(0x20, 0x7F)]
    if charset == "ascii":
        return printable
    if charset == "din66003":
        taken = set(_DIN_66003_LOOKALIKES)
        return [c for c in printable if c not in taken] + list(DIN_66003)
    # Without the no-break space and the soft hyphen, which a one-line display drops.
    return printable + [chr(code) for code in range(0xA1, 0x100) if code != 0xAD]


def _char_in(char: str, charset: Charset) -> str:
    if charset == "din66003":
        if char in DIN_66003:
            return DIN_66003[char]
        if char in _DIN_66003_LOOKALIKES:
            return _DIN_66003_LOOKALIKES[char]
    if " " <= char <= "~":
        return char
    if charset == "latin1" and "\xa0" <= char <= "\xff":
        return char
    if char in _GERMAN:
        return _GERMAN[char]
    if char in _TYPOGRAPHIC:
        return _TYPOGRAPHIC[char]
    if unicodedata.category(char) == "Zs":
        return " "
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if base and all(" " <= c <= "~" for c in base):
        return base if charset != "din66003" else "".join(_char_in(c, charset) for c in base)
    return "?"
