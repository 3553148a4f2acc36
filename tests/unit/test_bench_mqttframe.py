"""The bench's hand-written MQTT 3.1.1 framing: the spec's lengths, packets, partial reads."""

from __future__ import annotations

import pytest

from bench import mqttframe as mq

SPEC_LENGTHS = [  # MQTT 3.1.1, table 2.4: the remaining-length field's edges
    (0, "00"),
    (127, "7f"),
    (128, "8001"),
    (16_383, "ff7f"),
    (16_384, "808001"),
    (2_097_151, "ffff7f"),
    (2_097_152, "80808001"),
    (268_435_455, "ffffff7f"),
]


@pytest.mark.parametrize(("n", "wire"), SPEC_LENGTHS)
def test_remaining_lengths_are_the_spec_examples(n: int, wire: str) -> None:
    assert mq.encode_varint(n) == bytes.fromhex(wire)
    assert mq.decode_varint(b"\xaa" + bytes.fromhex(wire), 1) == (n, 1 + len(wire) // 2)


def test_a_length_not_all_there_yet_is_none_and_a_fifth_byte_is_refused() -> None:
    assert mq.decode_varint(b"\x80\x80", 0) is None
    with pytest.raises(mq.PacketError):
        mq.decode_varint(b"\x80\x80\x80\x80\x01", 0)
    with pytest.raises(ValueError, match="out of range"):
        mq.encode_varint(268_435_456)


def test_packets_are_byte_exact() -> None:
    assert mq.connect("c1", 6) == b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x06\x00\x02c1"
    assert mq.subscribe(1, "a/b") == b"\x82\x08\x00\x01\x00\x03a/b\x01"
    assert mq.publish_qos1(7, "t", b"x") == b"\x32\x06\x00\x01t\x00\x07x"
    assert mq.puback(7) == b"\x40\x02\x00\x07"
    assert mq.PINGREQ_PACKET == b"\xc0\x00"


def test_a_publish_reads_back_at_qos_1_and_0() -> None:
    packet = mq.publish_qos1(513, "bench/alarm", b'{"alarm_id":"a"}')
    [(kind, flags, body)] = mq.PacketReader(1024).feed(packet)
    assert kind == mq.PUBLISH
    assert mq.parse_publish(flags, body) == ("bench/alarm", 513, b'{"alarm_id":"a"}')
    assert mq.parse_publish(0, b"\x00\x01tpayload") == ("t", None, b"payload")
    assert mq.packet_id_of(b"\x02\x01") == 513


def test_packets_split_anywhere_come_out_whole_and_in_order() -> None:
    big = mq.publish_qos1(2, "t", b"p" * 300)  # a two-byte remaining length
    stream = b"\x20\x02\x00\x00" + big + b"\xd0\x00"  # CONNACK, PUBLISH, PINGRESP
    for cut in range(1, len(stream)):
        reader = mq.PacketReader(1024)
        packets = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert [p[0] for p in packets] == [mq.CONNACK, mq.PUBLISH, mq.PINGRESP], cut
        assert mq.parse_publish(packets[1][1], packets[1][2])[2] == b"p" * 300


def test_a_packet_over_the_limit_is_refused() -> None:
    with pytest.raises(mq.PacketError, match="over the limit"):
        mq.PacketReader(100).feed(b"\x30" + mq.encode_varint(101))
