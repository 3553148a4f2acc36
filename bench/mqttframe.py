"""MQTT 3.1.1 framing by hand: the few packets a QoS 1 subscriber and publisher exchange."""

from __future__ import annotations

CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
SUBSCRIBE = 8
SUBACK = 9
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14
VARINT_MAX = 268_435_455  # four bytes of seven bits


class PacketError(Exception):
    """The broker broke the protocol, or sent what this client does not take."""


def encode_varint(n: int) -> bytes:
    """The remaining-length field: seven bits a byte, least significant first."""
    if not 0 <= n <= VARINT_MAX:
        raise ValueError(f"remaining length {n} out of range")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def decode_varint(buffer: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """(value, position after it), or None while its bytes are not all there."""
    value = 0
    for i in range(4):
        if pos + i >= len(buffer):
            return None
        byte = buffer[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    raise PacketError("remaining length longer than four bytes")


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return len(raw).to_bytes(2, "big") + raw


def _packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes((kind << 4 | flags,)) + encode_varint(len(body)) + body


def connect(client_id: str, keepalive: int) -> bytes:
    """CONNECT with a clean session, no will, no credentials."""
    header = _string("MQTT") + bytes((4, 0x02)) + keepalive.to_bytes(2, "big")
    return _packet(CONNECT, 0, header + _string(client_id))


def subscribe(packet_id: int, topic: str, qos: int = 1) -> bytes:
    return _packet(SUBSCRIBE, 0x2, packet_id.to_bytes(2, "big") + _string(topic) + bytes((qos,)))


def publish_qos1(packet_id: int, topic: str, payload: bytes) -> bytes:
    return _packet(PUBLISH, 0x2, _string(topic) + packet_id.to_bytes(2, "big") + payload)


def puback(packet_id: int) -> bytes:
    return _packet(PUBACK, 0, packet_id.to_bytes(2, "big"))


PINGREQ_PACKET = _packet(PINGREQ, 0, b"")
DISCONNECT_PACKET = _packet(DISCONNECT, 0, b"")


def packet_id_of(body: bytes) -> int:
    """The packet identifier a PUBACK or SUBACK starts with."""
    if len(body) < 2:
        raise PacketError("acknowledgement without a packet identifier")
    return int.from_bytes(body[:2], "big")


def parse_publish(flags: int, body: bytes) -> tuple[str, int | None, bytes]:
    """(topic, packet id or None at QoS 0, payload) of a PUBLISH."""
    if len(body) < 2:
        raise PacketError("PUBLISH without a topic")
    n = int.from_bytes(body[:2], "big")
    pos = 2 + n
    topic = body[2:pos].decode("utf-8")
    qos = (flags >> 1) & 0x3
    if qos == 0:
        return topic, None, body[pos:]
    if len(body) < pos + 2:
        raise PacketError("PUBLISH without a packet identifier")
    return topic, int.from_bytes(body[pos : pos + 2], "big"), body[pos + 2 :]


class PacketReader:
    """Packets from the broker, taken from the bytes fed in."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        """Every packet ``data`` completes, as (type, flags, body); a partial one waits."""
        buf = self._buffer
        buf += data
        packets: list[tuple[int, int, bytes]] = []
        pos = 0
        while len(buf) - pos >= 2:
            length = decode_varint(buf, pos + 1)
            if length is None:
                break
            n, start = length
            if n > self.max_size:
                raise PacketError(f"packet of {n} bytes over the limit of {self.max_size}")
            if len(buf) < start + n:
                break
            packets.append((buf[pos] >> 4, buf[pos] & 0x0F, bytes(buf[start : start + n])))
            pos = start + n
        del buf[:pos]
        return packets
