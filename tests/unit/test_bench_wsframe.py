"""The bench's hand-written WebSocket framing: RFC 6455's own examples, lengths, partial reads."""

from __future__ import annotations

import pytest

from bench import wsframe as wf


def server_frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked final frame, as a server sends it."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 1 << 16:
        return bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big") + payload


def test_accept_key_is_the_rfc_example() -> None:
    assert wf.accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_masked_hello_is_the_rfc_example() -> None:
    frame = wf.encode_frame(wf.OP_TEXT, b"Hello", key=bytes.fromhex("37fa213d"))
    assert frame == bytes.fromhex("818537fa213d7f9f4d5158")


@pytest.mark.parametrize(
    ("n", "head"), [(0, "8180"), (125, "81fd"), (126, "81fe007e"), (65536, "81ff0000000000010000")]
)
def test_client_frames_carry_the_length_in_the_right_width(n: int, head: str) -> None:
    key = b"\x01\x02\x03\x04"
    frame = wf.encode_frame(wf.OP_TEXT, b"a" * n, key=key)
    prefix = bytes.fromhex(head)
    assert frame[: len(prefix)] == prefix
    assert frame[len(prefix) : len(prefix) + 4] == key
    assert wf.mask(frame[len(prefix) + 4 :], key) == b"a" * n  # masking twice gives it back


@pytest.mark.parametrize("n", [0, 5, 125, 126, 65535, 65536])
def test_server_frames_of_every_length_width_come_out_whole(n: int) -> None:
    payload = bytes(i % 251 for i in range(n))
    reader = wf.FrameReader(max_size=1 << 20)
    assert reader.feed(server_frame(wf.OP_BINARY, payload)) == [(wf.OP_BINARY, payload)]


def test_a_frame_read_byte_by_byte_comes_out_once_at_its_last_byte() -> None:
    data = server_frame(wf.OP_TEXT, b'{"type":"welcome"}') + server_frame(wf.OP_PING, b"p")
    reader = wf.FrameReader(max_size=1024)
    out = [reader.feed(data[i : i + 1]) for i in range(len(data))]
    first_end = len(data) - 3
    assert out[first_end - 1] == [(wf.OP_TEXT, b'{"type":"welcome"}')]
    assert out[-1] == [(wf.OP_PING, b"p")]
    assert sum(len(o) for o in out) == 2


def test_several_frames_in_one_read_all_come_out_in_order() -> None:
    data = b"".join(server_frame(wf.OP_TEXT, str(i).encode()) for i in range(5))
    assert wf.FrameReader(1024).feed(data) == [(wf.OP_TEXT, str(i).encode()) for i in range(5)]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (bytes.fromhex("8185") + b"\0" * 9, "masked"),
        (bytes.fromhex("0105") + b"Hello", "fragmented"),
        (bytes.fromhex("8005") + b"Hello", "fragmented"),
        (bytes.fromhex("c105") + b"Hello", "reserved"),
        (bytes.fromhex("817e0800"), "over the limit"),
    ],
)
def test_what_this_client_does_not_take_is_refused(data: bytes, why: str) -> None:
    with pytest.raises(wf.FrameError, match=why):
        wf.FrameReader(max_size=1024).feed(data)


def test_the_upgrade_answer_waits_for_its_blank_line_and_keeps_what_follows() -> None:
    head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\n"
    assert wf.parse_upgrade_response(head) is None
    answer = wf.parse_upgrade_response(head + b"\r\n\x81\x00")
    assert answer is not None
    assert answer.status == 101
    assert answer.headers["sec-websocket-accept"] == "x"
    assert answer.length == len(head) + 2


def test_a_busy_answer_gives_its_retry_after() -> None:
    answer = wf.parse_upgrade_response(
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\n\r\n"
    )
    assert answer is not None
    assert (answer.status, answer.headers["retry-after"]) == (503, "3")


@pytest.mark.parametrize("head", [b"SSH-2.0-x\r\n\r\n", b"HTTP/1.1 101 OK\r\nno colon\r\n\r\n"])
def test_a_garbled_upgrade_answer_is_refused(head: bytes) -> None:
    with pytest.raises(wf.FrameError):
        wf.parse_upgrade_response(head)


def test_the_upgrade_request_asks_for_no_extension() -> None:
    request = wf.upgrade_request("127.0.0.1", 8000, "/ws/agent", "k==", {"X-A": "1"}).decode()
    assert request.startswith("GET /ws/agent HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n")
    assert "Sec-WebSocket-Key: k==\r\n" in request
    assert "X-A: 1\r\n" in request
    assert "Extensions" not in request
    assert request.endswith("\r\n\r\n")


def test_close_codes_round_trip() -> None:
    assert wf.close_code(wf.close_payload(4401, "nope")) == 4401
    assert wf.close_code(b"") is None
