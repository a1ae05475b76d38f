import msgpack
import pytest

from gameserver import protocol
from gameserver.protocol import ErrorCode, Limits, ProtocolError


def packb(obj: object) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


@pytest.mark.parametrize(
    "message",
    [
        {"t": "input", "seq": 1, "mx": -1, "my": 1, "aim": 4095, "fire": True},
        {"t": "ping", "id": 2**31 - 1},
        {"t": "x", "nested": {"a": [1, 2, [3, "é"]]}, "b": b"\x00\xff"},
    ],
)
def test_encoded_messages_decode_to_the_same_map(message):
    assert protocol.decode(protocol.encode(message)) == message


def test_server_messages_round_trip_through_the_codec():
    frame = protocol.frame_message(
        tick=7, delta={"tick": 7, "p": [{"s": 0, "x": 5}]}, acks=[3, 0], events=[["ko", 1, 0]]
    )
    assert protocol.decode(protocol.encode(frame), Limits(max_message_bytes=10_000)) == frame
    assert frame["t"] in protocol.SERVER_TYPES


def test_a_message_at_the_size_limit_is_accepted_and_one_byte_more_is_too_large():
    limits = Limits(max_message_bytes=64, max_str_len=64)
    base = packb({"t": "ping", "pad": ""})
    at_limit = packb({"t": "ping", "pad": "a" * (64 - len(base) - 1)})
    assert len(at_limit) == 64
    assert protocol.decode(at_limit, limits)["t"] == "ping"
    with pytest.raises(ProtocolError) as err:
        protocol.decode(at_limit + b"\x00", limits)
    assert err.value.code == ErrorCode.TOO_LARGE


@pytest.mark.parametrize(
    ("limits", "payload"),
    [
        (Limits(max_str_len=8), {"t": "ping", "s": "123456789"}),
        (Limits(max_bin_len=4), {"t": "ping", "b": b"12345"}),
        (Limits(max_array_len=3), {"t": "ping", "a": [1, 2, 3, 4]}),
        (Limits(max_map_len=3), {"t": "ping", "a": 1, "b": 2, "c": 3}),
    ],
    ids=["str", "bin", "array", "map"],
)
def test_each_msgpack_limit_rejects_one_past_it(limits, payload):
    with pytest.raises(ProtocolError) as err:
        protocol.decode(packb(payload), limits)
    assert err.value.code == ErrorCode.BAD_ENCODING


@pytest.mark.parametrize(
    ("limits", "payload"),
    [
        (Limits(max_str_len=8), {"t": "ping", "s": "12345678"}),
        (Limits(max_bin_len=4), {"t": "ping", "b": b"1234"}),
        (Limits(max_array_len=3), {"t": "ping", "a": [1, 2, 3]}),
        (Limits(max_map_len=3), {"t": "ping", "a": 1, "b": 2}),
    ],
    ids=["str", "bin", "array", "map"],
)
def test_each_msgpack_limit_accepts_exactly_its_size(limits, payload):
    assert protocol.decode(packb(payload), limits) == payload


def test_a_frame_of_nested_empty_arrays_cannot_blow_up_memory():
    bomb = b"\x91" * 1000 + b"\x90"  # 1000 levels of one-element arrays
    with pytest.raises(ProtocolError) as err:
        protocol.decode(bomb, Limits(max_message_bytes=2000))
    assert err.value.code in {ErrorCode.BAD_ENCODING, ErrorCode.BAD_SHAPE}


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", ErrorCode.BAD_ENCODING),
        (b"\xc1", ErrorCode.BAD_ENCODING),  # never-used msgpack byte
        (b"\x81\xa1t", ErrorCode.BAD_ENCODING),  # truncated map
        (packb({"t": "ping", "id": 1}) + b"\x00", ErrorCode.BAD_ENCODING),  # trailing bytes
        (b"\xa3\xff\xfe\xfd", ErrorCode.BAD_ENCODING),  # invalid UTF-8 string
        (b"\x81\x01\x02", ErrorCode.BAD_ENCODING),  # int map key
        (b"\xd4\x01\x00", ErrorCode.BAD_ENCODING),  # ext type
        (packb([1, 2]), ErrorCode.BAD_SHAPE),
        (packb("ping"), ErrorCode.BAD_SHAPE),
        (packb({"type": "ping"}), ErrorCode.BAD_SHAPE),
        (packb({"t": 5}), ErrorCode.BAD_SHAPE),
    ],
    ids=[
        "empty",
        "reserved",
        "truncated",
        "trailing",
        "utf8",
        "int-key",
        "ext",
        "array",
        "string",
        "no-t",
        "int-t",
    ],
)
def test_bad_bytes_and_wrong_shapes_raise_their_error_code(data, code):
    with pytest.raises(ProtocolError) as err:
        protocol.decode(data)
    assert err.value.code == code
    assert err.value.detail


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"t": "shoot"}, ErrorCode.UNKNOWN_TYPE),
        ({"t": "snapshot"}, ErrorCode.UNKNOWN_TYPE),
        ({"t": "ping"}, ErrorCode.BAD_SHAPE),
        ({"t": "ping", "id": 0}, ErrorCode.BAD_SHAPE),
        ({"t": "ping", "id": True}, ErrorCode.BAD_SHAPE),
        ({"t": "ping", "id": 2**31}, ErrorCode.BAD_SHAPE),
        ({"t": "ping", "id": 1, "x": 1}, ErrorCode.BAD_SHAPE),
    ],
)
def test_client_messages_are_checked_by_type(message, code):
    with pytest.raises(ProtocolError) as err:
        protocol.check_client_message(message)
    assert err.value.code == code


def test_valid_client_messages_report_their_type():
    assert protocol.check_client_message({"t": "ping", "id": 9}) == protocol.PING
    assert protocol.check_client_message({"t": "input", "seq": 1}) == protocol.INPUT


def test_error_messages_carry_the_code_as_a_plain_string():
    message = protocol.error_message(ErrorCode.RATE_LIMITED, "slow down")
    assert protocol.decode(protocol.encode(message)) == {
        "t": "error",
        "code": "rate_limited",
        "detail": "slow down",
    }
