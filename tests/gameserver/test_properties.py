"""Property-based tests of the codec and the message checks (hypothesis).

Whatever bytes a client sends, ``decode`` answers a message map or a ``ProtocolError`` with a
documented code; what decodes encodes back to the same message; well-shaped messages within
the limits decode to themselves; ``check_client_message``, the arena's input check and the
lobby's schema check refuse only with their documented codes.

The strategies here are shared with tests/match/test_consumer_properties.py and
tests/lobby/test_consumer_properties.py (same limits, same oracle as the consumers).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import msgpack
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gameserver import protocol
from gameserver.protocol import UINT31_MAX, ErrorCode, Limits, ProtocolError
from gameserver.protocol import lobby as lp
from lobby.consumers import LOBBY_MAX_STR_BYTES
from match.games.arena.game import decode_input
from match.games.arena.state import ArenaInput
from match.rules import InvalidInput

# Reproducible in CI: derandomize (which also means no example database is written).
PROPERTIES = settings(
    derandomize=True,
    deadline=None,
    max_examples=400,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)

DECODE_CODES = {ErrorCode.TOO_LARGE, ErrorCode.BAD_ENCODING, ErrorCode.BAD_SHAPE}
CHECK_CODES = {ErrorCode.UNKNOWN_TYPE, ErrorCode.BAD_SHAPE}
MATCH_LIMITS = protocol.DEFAULT_LIMITS
LOBBY_LIMITS = Limits(max_str_len=LOBBY_MAX_STR_BYTES)
# Decoding what the server re-encodes: the same element limits, room for any size (a float32
# from a client comes back as a float64, 4 bytes longer).
ROOMY = 1 << 20

INPUT_KEYS = ("seq", "mx", "my", "aim", "fire")

# Bin (``bytes``) map keys, which msgpack's ``strict_map_key`` lets through, are refused by
# ``decode`` as ``bad_encoding`` at any depth (a top-level one used to close the socket 1011:
# ``sorted`` of mixed keys). Well-shaped messages here have string keys; the last test here
# puts bin keys anywhere.
BIN_KEYS_AT_THE_TOP = False


def top_keys(max_bytes: int, max_bin: int = 4) -> st.SearchStrategy[Any]:
    """Keys of a message's own fields (see BIN_KEYS_AT_THE_TOP)."""
    keys = text(max_bytes)
    return weighted((5, keys), (1, st.binary(max_size=max_bin))) if BIN_KEYS_AT_THE_TOP else keys


def packb(obj: object) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


# --- values ------------------------------------------------------------------------------------

BOUNDARY_INTS = [
    -(2**63),
    -(2**31) - 1,
    -(2**31),
    -2,
    -1,
    0,
    1,
    2,
    64,
    65,
    4095,
    4096,
    UINT31_MAX,
    UINT31_MAX + 1,
    2**32,
    2**63,
    2**64 - 1,
]
INTS = st.one_of(st.sampled_from(BOUNDARY_INTS), st.integers(-(2**63), 2**64 - 1), st.integers(-3, 3))


@functools.cache
def text(max_bytes: int, min_size: int = 0) -> st.SearchStrategy[str]:
    """Strings of at most ``max_bytes`` bytes of UTF-8 (the decoder's limit is in bytes)."""
    short = st.text(min_size=min_size, max_size=max(min_size, min(24, max_bytes // 4)))
    at_limit = st.sampled_from(["a" * max_bytes, "é" * (max_bytes // 2), "€" * (max_bytes // 3)])
    return weighted((7, short), (1, at_limit)).filter(
        lambda s: min_size <= len(s) and len(s.encode()) <= max_bytes
    )


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, chosen with these weights (``one_of`` merges repeated ones)."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(lambda i: table[i])


@functools.cache
def scalars(limits: Limits) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        INTS,
        st.floats(allow_nan=False),  # NaN != NaN; NaN gets its own byte-level round trip below
        text(limits.max_str_len),
        st.binary(max_size=min(limits.max_bin_len, 16)),
        st.binary(min_size=limits.max_bin_len, max_size=limits.max_bin_len),
    )


@functools.cache
def values(limits: Limits, *, bin_keys: bool = False) -> st.SearchStrategy[Any]:
    """Any msgpack value within the element limits (size is filtered by the caller).

    ``bin_keys``: nested maps may have bin keys (which ``decode`` refuses)."""
    keys: st.SearchStrategy[Any] = text(min(limits.max_str_len, 12))
    if bin_keys:
        keys = st.one_of(keys, st.binary(max_size=min(limits.max_bin_len, 8)))
    return st.recursive(
        scalars(limits),
        lambda children: st.one_of(
            st.lists(children, max_size=min(limits.max_array_len, 6)),
            st.dictionaries(keys, children, max_size=min(limits.max_map_len, 6)),
        ),
        max_leaves=12,
    )


def limits_strategy() -> st.SearchStrategy[Limits]:
    return st.builds(
        Limits,
        max_message_bytes=st.sampled_from([64, 100, 1024, 4096]),
        max_bin_len=st.sampled_from([0, 1, 16, 256]),
        max_str_len=st.sampled_from([1, 16, 256, 1024]),
        max_array_len=st.sampled_from([0, 1, 8, 64]),
        max_map_len=st.sampled_from([1, 2, 8, 32]),
    )


def fits(message: dict[str, Any], limits: Limits) -> bool:
    return len(protocol.encode(message)) <= limits.max_message_bytes


@st.composite
def messages(draw: st.DrawFn, limits: Limits, kinds: st.SearchStrategy[str] | None = None) -> dict[str, Any]:
    """A well-shaped message within ``limits``: a map, string keys, a string ``t``.

    Top-level keys are strings only here: see ``BIN_KEYS_AT_THE_TOP``."""
    kind = draw(kinds if kinds is not None else text(min(limits.max_str_len, 16)))
    room = max(0, limits.max_map_len - 1)
    if draw(st.integers(0, 4)):
        body = draw(
            st.dictionaries(
                top_keys(min(limits.max_str_len, 8), min(limits.max_bin_len, 4)),
                values(limits),
                max_size=min(room, 5),
            )
        )
        body.pop("t", None)
    else:  # a map with as many pairs as the limit allows, small values
        names = [f"k{i}"[-limits.max_str_len :] for i in range(room)]
        body = dict(
            zip(names, draw(st.lists(st.integers(0, 127), min_size=room, max_size=room)), strict=True)
        )
        body.pop("t", None)
    message = {"t": kind, **body}
    if not fits(message, limits):  # shrink the biggest value until it fits
        for key in sorted(body, key=lambda k: -len(protocol.encode({k: body[k]}))):
            del message[key]
            if fits(message, limits):
                break
    return message


def mutate(data: bytes, how: int, where: int, byte: int, junk: bytes) -> bytes:
    """Truncated, a byte changed, bytes inserted, or trailing bytes: usually broken msgpack."""
    at = where % (len(data) + 1)
    if how == 0:
        return data[:at]
    if how == 1 and data:
        at %= len(data)
        return data[:at] + bytes([byte]) + data[at + 1 :]
    if how == 2:
        return data[:at] + junk + data[at:]
    return data + junk


def mutated(base: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.builds(
        mutate, base, st.integers(0, 3), st.integers(0, 10_000), st.integers(0, 255), st.binary(max_size=8)
    )


def deep(depth: int, kind: str = "ping") -> bytes:
    """``{"t": kind, "x": [[[...]]]}`` nested ``depth`` arrays deep."""
    return packb({"t": kind}).replace(b"\x81", b"\x82", 1) + packb("x") + b"\x91" * depth + b"\x90"


@functools.cache
def byte_frames(limits: Limits, kinds: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[bytes]:
    """What a hostile client sends as binary frames: noise, broken and odd-but-valid msgpack."""
    encoded = messages(limits, kinds).map(protocol.encode)
    any_value = values(limits).map(packb)
    return st.one_of(
        st.binary(max_size=64),
        st.binary(min_size=limits.max_message_bytes - 4, max_size=limits.max_message_bytes + 4),
        encoded,
        encoded,
        any_value,  # arrays, strings, ints, maps with bin keys at the top ...
        mutated(encoded),
        mutated(any_value),
        st.integers(0, 1100).map(lambda d: deep(d, "ping")),
        st.sampled_from(
            [
                b"",
                b"\xc1",
                b"\x81\xa1t",
                b"\xdf\xff\xff\xff\xff",  # map32 announcing 4 billion pairs
                b"\xdd\xff\xff\xff\xff",  # array32 announcing 4 billion items
                b"\xdb\xff\xff\xff\xff",  # str32 announcing 4 GiB
                b"\xc6\xff\xff\xff\xff",  # bin32 announcing 4 GiB
                b"\xd4\x01\x00",  # fixext
                b"\xd6\xff\x00\x00\x00\x00",  # timestamp ext
                b"\x81\xa1t\xca\x3f\x80\x00\x00",  # t: float32
                b"\x81\xa1t\xc0",  # t: nil
                b"\x81\xc4\x01t\xa4ping",  # bin key "t"
            ]
        ),
    )


# --- the codec ----------------------------------------------------------------------------------


T = TypeVar("T")


def attempt(call: Callable[..., T], *args: Any) -> T | ProtocolError:
    """What ``call`` returns, or the ProtocolError it raised (anything else escapes)."""
    try:
        return call(*args)
    except ProtocolError as exc:
        return exc


def roomy(limits: Limits) -> Limits:
    return dataclasses.replace(limits, max_message_bytes=ROOMY)


@PROPERTIES
@given(data=byte_frames(MATCH_LIMITS), limits=st.just(MATCH_LIMITS) | limits_strategy())
@example(data=deep(1022), limits=Limits(max_message_bytes=2000))
@example(data=deep(5000), limits=Limits(max_message_bytes=6000))
def test_decode_answers_a_message_or_a_documented_protocol_error(data, limits):
    message = attempt(protocol.decode, data, limits)
    if isinstance(message, ProtocolError):
        assert message.code in DECODE_CODES, message
        assert isinstance(message.detail, str)
        assert message.detail
        if len(data) > limits.max_message_bytes:
            assert message.code == ErrorCode.TOO_LARGE, "the size is checked first"
        return
    assert len(data) <= limits.max_message_bytes
    assert type(message) is dict
    assert isinstance(message["t"], str)
    # What decodes, round-trips: encoded again, it decodes to the same bytes' message.
    again = protocol.encode(message)
    assert protocol.encode(protocol.decode(again, roomy(limits))) == again


@PROPERTIES
@given(data=st.binary(max_size=2048), limits=limits_strategy())
def test_decode_of_raw_noise_never_raises_anything_else(data, limits):
    message = attempt(protocol.decode, data, limits)
    if isinstance(message, ProtocolError):
        assert message.code in DECODE_CODES
    else:
        assert isinstance(message.get("t"), str)


@PROPERTIES
@given(st.data())
def test_well_shaped_messages_within_the_limits_decode_to_themselves(data):
    limits = data.draw(st.just(MATCH_LIMITS) | st.just(LOBBY_LIMITS) | limits_strategy(), label="limits")
    message = data.draw(messages(limits), label="message")
    encoded = protocol.encode(message)
    assert len(encoded) <= limits.max_message_bytes
    assert protocol.decode(encoded, limits) == message


@PROPERTIES
@given(value=values(MATCH_LIMITS))
def test_nan_and_other_odd_values_survive_a_round_trip_byte_for_byte(value):
    message = {"t": "x", "v": value, "nan": float("nan")}
    encoded = protocol.encode(message)
    assert protocol.encode(protocol.decode(encoded, roomy(MATCH_LIMITS))) == encoded


@PROPERTIES
@given(pairs=st.lists(st.integers(0, 1), min_size=1, max_size=40), limits=limits_strategy())
def test_one_pair_more_than_the_map_limit_is_bad_encoding(pairs, limits):
    message: dict[str, Any] = {"t": "ping", **{f"{i}": v for i, v in enumerate(pairs)}}
    if len(message) <= limits.max_map_len:
        wide = dataclasses.replace(roomy(limits), max_str_len=16)
        assert protocol.decode(protocol.encode(message), wide) == message
        return
    encoded = protocol.encode(message)
    refused = attempt(protocol.decode, encoded, limits)
    assert isinstance(refused, ProtocolError), (
        f"{len(message)} pairs decoded, max_map_len {limits.max_map_len}"
    )
    too_large = len(encoded) > limits.max_message_bytes
    assert refused.code == (ErrorCode.TOO_LARGE if too_large else ErrorCode.BAD_ENCODING)


# --- the match socket's checks: check_client_message, then the arena's input check ---------------


VALID_INPUT_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "seq": st.integers(1, UINT31_MAX),
    "mx": st.integers(-1, 1),
    "my": st.integers(-1, 1),
    "aim": st.integers(0, 4095),
    "fire": st.booleans(),
}
WRONG_VALUES: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(
        [0, -2, 2, 4096, -1, UINT31_MAX + 1, True, False, 1, 1.0, 0.0, None, "1", b"\x01", [], {}]
    ),
    scalars(MATCH_LIMITS),
    st.lists(INTS, max_size=2),
)
OTHER_KINDS = st.sampled_from(
    [*sorted(protocol.SERVER_TYPES | lp.CLIENT_TYPES - {"ping"}), "Input", "PING", "input ", "", "inp\x00ut"]
)
MATCH_KINDS = weighted((6, st.just("input")), (2, st.just("ping")), (1, OTHER_KINDS), (1, text(16)))


@st.composite
def match_messages(draw: st.DrawFn) -> dict[str, Any]:
    """Messages a match client might send: mostly inputs and pings, valid or broken in one or
    two ways (a missing or extra field, a wrong value), and other types."""
    kind = draw(MATCH_KINDS)
    fields: dict[Any, Any]
    if kind == "ping":
        fields = {"id": draw(st.integers(1, UINT31_MAX))}
    else:
        fields = {key: draw(value) for key, value in VALID_INPUT_VALUES.items()}
    for broken in draw(st.lists(st.sampled_from(["missing", "extra", "value", "value"]), max_size=2)):
        if broken == "missing" and fields:
            fields.pop(draw(st.sampled_from(sorted(fields, key=repr))))
        elif broken == "extra":
            fields[draw(st.sampled_from(["t2", "seq ", "x", "id", "seq", "pad"]) | top_keys(8))] = draw(
                WRONG_VALUES
            )
        elif fields:
            fields[draw(st.sampled_from(sorted(fields, key=repr)))] = draw(WRONG_VALUES)
    fields.pop("t", None)
    message = {"t": kind, **fields}
    while not fits(message, MATCH_LIMITS):
        message.popitem()
    return message


def match_outcome(message: dict[str, Any]) -> ErrorCode | str:
    """What the match socket answers a decoded message with, once synced: an error code, or
    the message type it accepts (``input`` is not answered, ``ping`` gets a ``pong``)."""
    try:
        kind = protocol.check_client_message(message)
        if kind == protocol.INPUT:
            try:
                decode_input(message)
            except InvalidInput:
                return ErrorCode.BAD_INPUT
        return kind
    except ProtocolError as exc:
        return exc.code


@PROPERTIES
@given(message=match_messages() | messages(MATCH_LIMITS))
def test_check_client_message_refuses_only_with_unknown_type_or_bad_shape(message):
    kind = attempt(protocol.check_client_message, message)
    if isinstance(kind, ProtocolError):
        assert kind.code in CHECK_CODES, kind
        known = message["t"] in protocol.CLIENT_TYPES
        assert kind.code == (ErrorCode.BAD_SHAPE if known else ErrorCode.UNKNOWN_TYPE)
        return
    assert kind in protocol.CLIENT_TYPES
    if kind == protocol.PING:
        assert set(message) == {"t", "id"}
        assert type(message["id"]) is int
        assert 1 <= message["id"] <= UINT31_MAX


@PROPERTIES
@given(message=match_messages())
def test_the_arena_refuses_inputs_only_with_invalid_input(message):
    message["t"] = "input"
    parsed: ArenaInput | None = None
    try:
        parsed = decode_input(message)
    except InvalidInput as exc:
        detail = str(exc)
    if parsed is None:
        assert detail, "an InvalidInput says what is wrong"
        return
    assert set(message) == {"t", *INPUT_KEYS}
    fields = (parsed.seq, parsed.mx, parsed.my, parsed.aim, parsed.fire)
    assert fields == tuple(message[k] for k in INPUT_KEYS)
    assert all(type(message[k]) is int for k in INPUT_KEYS[:4])
    assert type(message["fire"]) is bool


@PROPERTIES
@given(data=byte_frames(MATCH_LIMITS, st.sampled_from(["input", "ping"])))
def test_any_frame_gets_one_documented_match_answer(data):
    message = attempt(protocol.decode, data)
    if isinstance(message, ProtocolError):
        assert message.code in DECODE_CODES
        return
    outcome = match_outcome(message)
    assert outcome in {*CHECK_CODES, ErrorCode.BAD_INPUT, protocol.INPUT, protocol.PING}


# --- the lobby's schema check ---------------------------------------------------------------------

UINT31 = st.integers(1, UINT31_MAX)
PASSWORD = text(lp.PASSWORD_MAX_CHARS).filter(lambda s: len(s) <= lp.PASSWORD_MAX_CHARS)
# type -> (required, optional) field -> a strategy of valid values: docs/protocol.md 8.10.
LOBBY_SCHEMAS: dict[str, tuple[dict[str, st.SearchStrategy[Any]], dict[str, st.SearchStrategy[Any]]]] = {
    "ping": ({"id": UINT31}, {}),
    "chat": ({"text": text(lp.CHAT_MAX_CHARS * 4, min_size=1).filter(lambda s: 1 <= len(s) <= 200)}, {}),
    "party_invite": ({"player": UINT31}, {}),
    "party_accept": ({"party": UINT31}, {}),
    "party_decline": ({"party": UINT31}, {}),
    "party_leave": ({}, {}),
    "party_kick": ({"player": UINT31}, {}),
    "queue_join": ({"mode": st.sampled_from(lp.MODES)}, {}),
    "queue_leave": ({}, {}),
    "ready": ({"check": UINT31, "accept": st.booleans()}, {}),
    "room_create": (
        {"mode": st.sampled_from(lp.MODES), "max": st.integers(1, 64), "public": st.booleans()},
        {"password": PASSWORD, "game": text(lp.GAME_MAX_CHARS, min_size=1)},
    ),
    "room_join": (
        {"code": st.one_of(text(16, min_size=1), st.text(lp.ROOM_CODE_CHARS, min_size=6, max_size=6))},
        {"password": PASSWORD},
    ),
    "room_leave": ({}, {}),
    "room_start": ({}, {}),
}
LOBBY_WRONG_VALUES: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, -1, UINT31_MAX + 1, 65, 2**64 - 1, 1.0, "", "x" * 201, "duel ", "DUEL", [], {}]),
    scalars(LOBBY_LIMITS),
)


@st.composite
def lobby_messages(draw: st.DrawFn, kinds: list[str] | None = None) -> dict[str, Any]:
    """A lobby request: valid for its schema, or broken in one or two ways."""
    kind = draw(st.sampled_from(kinds or sorted(LOBBY_SCHEMAS)))
    required, optional = LOBBY_SCHEMAS[kind]
    fields = {name: draw(value) for name, value in required.items()}
    for name, value in optional.items():
        if draw(st.booleans()):
            fields[name] = draw(value)
    broken = draw(
        weighted(
            (4, st.just(set())),
            (3, st.sets(st.sampled_from(["missing", "extra", "value", "type"]), max_size=2)),
        )
    )
    if "missing" in broken and fields:
        fields.pop(draw(st.sampled_from(sorted(fields, key=repr))))
    if "extra" in broken:
        fields[draw(top_keys(12).filter(lambda k: k not in required and k not in optional and k != "t"))] = (
            draw(LOBBY_WRONG_VALUES)
        )
    if "value" in broken and fields:
        fields[draw(st.sampled_from(sorted(fields, key=repr)))] = draw(LOBBY_WRONG_VALUES)
    if "type" in broken:
        kind = draw(st.one_of(st.sampled_from(["input", "error", "welcome", "Chat", "ping "]), text(16)))
    message = {"t": kind, **fields}
    while not fits(message, LOBBY_LIMITS):
        message.popitem()
    return message


def lobby_fields_valid(message: dict[str, Any]) -> bool:
    """Whether a message matches its schema (the independent reading of section 8.10)."""
    kind = message["t"]
    if kind not in LOBBY_SCHEMAS:
        return False
    required, optional = LOBBY_SCHEMAS[kind]
    fields = set(message) - {"t"}
    if not set(required) <= fields <= set(required) | set(optional):
        return False
    for name in fields:
        value = message[name]
        if name in {"id", "player", "party", "check"}:
            ok = type(value) is int and 1 <= value <= UINT31_MAX
        elif name in {"accept", "public"}:
            ok = type(value) is bool
        elif name == "mode":
            ok = value in lp.MODES
        elif name == "max":
            ok = type(value) is int and 1 <= value <= 64
        elif name == "text":
            ok = isinstance(value, str) and 1 <= len(value) <= lp.CHAT_MAX_CHARS
        elif name == "code":
            ok = isinstance(value, str) and 1 <= len(value) <= 16
        elif name == "game":
            ok = isinstance(value, str) and 1 <= len(value) <= lp.GAME_MAX_CHARS
        else:
            ok = isinstance(value, str) and len(value) <= lp.PASSWORD_MAX_CHARS
        if not ok:
            return False
    return True


def test_the_schemas_here_are_the_server_s():
    assert {kind: (set(r), set(o)) for kind, (r, o) in LOBBY_SCHEMAS.items()} == {
        kind: (set(r), set(o)) for kind, (r, o) in lp.CLIENT_SCHEMAS.items()
    }


@PROPERTIES
@given(message=lobby_messages() | messages(LOBBY_LIMITS))
def test_the_lobby_schema_check_refuses_only_with_unknown_type_or_bad_shape(message):
    kind = attempt(lp.check_lobby_message, message)
    if isinstance(kind, ProtocolError):
        assert kind.code in CHECK_CODES, kind
        assert kind.code == (
            ErrorCode.BAD_SHAPE if message["t"] in lp.CLIENT_TYPES else ErrorCode.UNKNOWN_TYPE
        )
        assert not lobby_fields_valid(message)
        return
    assert kind == message["t"]
    assert lobby_fields_valid(message), f"accepted a message that breaks its schema: {message!r}"


@PROPERTIES
@given(data=byte_frames(LOBBY_LIMITS, st.sampled_from(sorted(lp.CLIENT_TYPES))))
def test_any_lobby_frame_is_a_request_or_a_documented_error(data):
    message = attempt(protocol.decode, data, LOBBY_LIMITS)
    kind = message if isinstance(message, ProtocolError) else attempt(lp.check_lobby_message, message)
    if isinstance(kind, ProtocolError):
        assert kind.code in DECODE_CODES | CHECK_CODES
        return
    assert kind in lp.CLIENT_TYPES


@PROPERTIES
@given(value=values(MATCH_LIMITS, bin_keys=True), key=st.binary(max_size=4), top=st.booleans())
def test_a_bin_map_key_at_any_depth_is_bad_encoding(value, key, top):
    message: dict[Any, Any] = {"t": "ping", "id": 1}
    if top:
        message[key] = value
    else:
        message["v"] = [value, {key: 1}]
    with pytest.raises(ProtocolError) as refused:
        protocol.decode(packb(message), roomy(MATCH_LIMITS))
    assert refused.value.code == ErrorCode.BAD_ENCODING
