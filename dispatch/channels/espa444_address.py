"""Where the paging system's ESPA 4.4.4 interface is: ``tcp://host:port`` or ``serial://device``.

Read once with the settings, so a wrong address stops the hub at start with one line
instead of failing at the first alarm.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qsl, urlsplit

BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
SERIAL_OPTIONS = ("baudrate", "bytesize", "parity", "stopbits")


@dataclass(frozen=True, slots=True)
class TcpLink:
    """A paging system that takes ESPA 4.4.4 on a TCP port, or a serial-to-LAN converter
    (a raw TCP socket in front of the RS-232 port)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"tcp://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class SerialLink:
    """An RS-232 line. ESPA 4.4.4's character is 7 data bits, even parity, 1 stop bit
    (2.1); 9600 baud is what paging systems are usually set to."""

    device: str
    baudrate: int = 9600
    bytesize: int = 7
    parity: str = "E"
    stopbits: int = 1

    def __str__(self) -> str:
        return f"serial://{self.device}"


Link = TcpLink | SerialLink


def parse_link(url: str) -> Link:
    """The link ``url`` names; ValueError with one line saying what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme == "tcp":
        return _tcp(url, parts)
    if parts.scheme == "serial":
        return _serial(parts.path, parts.netloc, parts.query)
    raise ValueError(
        f"the ESPA address is tcp://host:port or serial:///dev/ttyS0?baudrate=9600, not {url!r}"
    )


def _tcp(url: str, parts: SplitResult) -> TcpLink:
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        port = None
    if not parts.hostname or not port or parts.path not in ("", "/") or parts.query:
        raise ValueError(f"the ESPA address tcp://host:port needs a host and a port, not {url!r}")
    return TcpLink(parts.hostname, port)


def _serial(path: str, netloc: str, query: str) -> SerialLink:
    if netloc or not path.startswith("/dev/"):
        raise ValueError(
            f"the ESPA address serial:///dev/… names a device under /dev, not {path or netloc!r}"
        )
    options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    unknown = sorted(set(options) - set(SERIAL_OPTIONS))
    if unknown:
        raise ValueError(
            f"unknown ESPA serial option {unknown[0]!r} (known: {', '.join(SERIAL_OPTIONS)})"
        )
    return SerialLink(
        path,
        baudrate=_number(options, "baudrate", 9600, BAUD_RATES),
        bytesize=_number(options, "bytesize", 7, (7, 8)),
        parity=_choice(options, "parity", "E", ("N", "E", "O")),
        stopbits=_number(options, "stopbits", 1, (1, 2)),
    )


def _number(options: dict[str, str], name: str, default: int, allowed: tuple[int, ...]) -> int:
    text = options.get(name)
    if text is None:
        return default
    if not text.isdigit() or int(text) not in allowed:
        raise ValueError(
            f"ESPA serial {name} is one of {', '.join(map(str, allowed))}, not {text!r}"
        )
    return int(text)


def _choice(options: dict[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    text = options.get(name, default).upper()
    if text not in allowed:
        raise ValueError(f"ESPA serial {name} is one of {', '.join(allowed)}, not {text!r}")
    return text
