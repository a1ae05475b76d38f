"""The wire protocol, shared part: codec, limits, errors, close codes, and the match messages.

Every consumer, the JS client, the load tests and docs/protocol.md use these names. Frames are
binary msgpack maps with string keys and a string ``"t"`` naming the message type.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgpack

# --- message types ------------------------------------------------------------------------
# Client -> server
INPUT = "input"
PING = "ping"
# Server -> client
SEAT = "seat"
SNAPSHOT = "snapshot"
PHASE = "phase"
FRAME = "frame"
END = "end"
ERROR = "error"
PONG = "pong"

CLIENT_TYPES = frozenset({INPUT, PING})
SERVER_TYPES = frozenset({SEAT, SNAPSHOT, PHASE, FRAME, END, ERROR, PONG})

# Match phases, as sent in ``snapshot`` and ``phase``.
PHASE_WAITING = "waiting"
PHASE_RUNNING = "running"
PHASE_OVER = "over"

UINT31_MAX = 2**31 - 1


class ErrorCode(enum.StrEnum):
    """Stable codes of ``{"t": "error"}`` messages; clients switch on these."""

    TEXT_FRAME = "text_frame"
    TOO_LARGE = "too_large"
    BAD_ENCODING = "bad_encoding"
    BAD_SHAPE = "bad_shape"
    UNKNOWN_TYPE = "unknown_type"
    BAD_INPUT = "bad_input"
    RATE_LIMITED = "rate_limited"
    NOT_READY = "not_ready"
    # Sent just before a 4xxx close, since Daphne drops close reasons.
    TICKET_INVALID = "ticket_invalid"
    TICKET_EXPIRED = "ticket_expired"
    WRONG_MATCH = "wrong_match"
    WRONG_PLAYER = "wrong_player"
    NO_SUCH_MATCH = "no_such_match"
    MATCH_OVER = "match_over"
    REPLACED = "replaced"
    SEAT_TAKEN = "seat_taken"
    RESUME_INVALID = "resume_invalid"
    TOO_MANY_ERRORS = "too_many_errors"
    UNAVAILABLE = "unavailable"
    SHUTTING_DOWN = "shutting_down"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    IDLE = "idle"
    SIGNED_OUT = "signed_out"
    # Lobby (see gameserver/protocol/lobby.py); closes only for UNAUTHENTICATED.
    UNAUTHENTICATED = "unauthenticated"
    BUSY = "busy"
    PLAYER_OFFLINE = "player_offline"
    CANNOT_TARGET_SELF = "cannot_target_self"
    NO_SUCH_PARTY = "no_such_party"
    NOT_IN_PARTY = "not_in_party"
    NOT_PARTY_LEADER = "not_party_leader"
    ALREADY_IN_PARTY = "already_in_party"
    PARTY_FULL = "party_full"
    PARTY_TOO_BIG = "party_too_big"
    ALREADY_QUEUED = "already_queued"
    NOT_QUEUED = "not_queued"
    IN_MATCH = "in_match"
    NO_SUCH_CHECK = "no_such_check"
    NOT_YOUR_CHECK = "not_your_check"
    NO_SUCH_ROOM = "no_such_room"
    WRONG_PASSWORD = "wrong_password"
    ROOM_FULL = "room_full"
    IN_ROOM = "in_room"
    NOT_IN_ROOM = "not_in_room"
    NOT_ROOM_HOST = "not_room_host"
    NOT_ENOUGH_PLAYERS = "not_enough_players"


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server uses (4xxx: ours, mirroring HTTP where it can)."""

    NORMAL = 1000
    INTERNAL = 1011  # a server-side failure on this socket; it was cleaned up, reconnect
    RESTARTING = 1012  # the server process is stopping; reconnect (to another one)
    PROTOCOL = 4400
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    REPLACED = 4409  # a conflict over a seat: replaced by a newer connection, or already taken
    IDLE = 4408  # sent nothing (not even a ping) for WS_IDLE_SECONDS
    GONE = 4410
    FLOOD = 4429
    UNAVAILABLE = 4503


class ProtocolError(Exception):
    """A client message broke the protocol; answered with an error message, not a crash."""

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Limits:
    """Decoder limits for anything a client sends; msgpack's defaults are far too generous."""

    max_message_bytes: int = 1024
    max_bin_len: int = 256
    max_str_len: int = 256
    max_array_len: int = 64
    max_map_len: int = 32


DEFAULT_LIMITS = Limits()


def encode(message: Mapping[str, Any]) -> bytes:
    """Encode a message once; the bytes are then passed through the channel layer as-is."""
    return msgpack.packb(message, use_bin_type=True)


def decode(data: bytes, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Decode one client frame into a message map, or raise ProtocolError.

    The size check comes first so an oversized frame costs nothing to reject; the msgpack
    limits bound what a small frame can expand into (a 1 KiB frame of empty arrays is fine,
    a 1 MiB one would unpack to tens of MB without them).
    """
    if len(data) > limits.max_message_bytes:
        raise ProtocolError(
            ErrorCode.TOO_LARGE,
            f"message is {len(data)} bytes, limit is {limits.max_message_bytes}",
        )
    try:
        message = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_bin_len=limits.max_bin_len,
            max_str_len=limits.max_str_len,
            max_array_len=limits.max_array_len,
            max_map_len=limits.max_map_len,
            max_ext_len=0,
        )
    except Exception as exc:  # msgpack raises several unrelated types for bad bytes
        raise ProtocolError(
            ErrorCode.BAD_ENCODING, f"not a valid msgpack message: {type(exc).__name__}"
        ) from None
    if not isinstance(message, dict):
        raise ProtocolError(ErrorCode.BAD_SHAPE, f"message must be a map, got {type(message).__name__}")
    if not _string_keys(message):
        # strict_map_key lets bytes keys through; every check after this one sorts and
        # compares keys as strings (a bin key there was a TypeError, so a 1011).
        raise ProtocolError(ErrorCode.BAD_ENCODING, "map keys must be strings")
    kind = message.get("t")
    if not isinstance(kind, str):
        raise ProtocolError(ErrorCode.BAD_SHAPE, f"field 't' must be a string, got {kind!r}")
    return message


def _string_keys(message: dict[str, Any]) -> bool:
    """Every map key, at any depth, is a str. A loop, not recursion: a 1 KiB frame can nest
    hundreds of arrays deep. A flat input map costs one pass over its values."""
    pending: list[Any] = [message]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if type(key) is not str:
                    return False
                if isinstance(item, dict | list):
                    pending.append(item)
        else:
            pending.extend(item for item in value if isinstance(item, dict | list))
    return True


def require_uint31(message: Mapping[str, Any], field: str) -> int:
    """Read a positive 31-bit integer field (sequence numbers, ping ids)."""
    value = message.get(field)
    if type(value) is not int or not 0 < value <= UINT31_MAX:
        raise ProtocolError(
            ErrorCode.BAD_SHAPE, f"field {field!r} must be an integer in 1..{UINT31_MAX}, got {value!r}"
        )
    return value


def check_client_message(message: Mapping[str, Any]) -> str:
    """Check the generic shape of a decoded client message and return its type."""
    kind = message["t"]
    if kind not in CLIENT_TYPES:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind!r}")
    if kind == PING:
        if set(message) != {"t", "id"}:
            raise ProtocolError(ErrorCode.BAD_SHAPE, f"ping takes fields t, id; got {sorted(message)!r}")
        require_uint31(message, "id")
    return str(kind)


# --- server message builders (one place, so field names never drift) ------------------------


def error_message(code: ErrorCode, detail: str, re: str | None = None) -> dict[str, Any]:
    """``re`` names the request type an error answers, where the answer comes later (lobby)."""
    message = {"t": ERROR, "code": str(code), "detail": detail}
    if re is not None:
        message["re"] = re
    return message


def pong_message(ping_id: int) -> dict[str, Any]:
    return {"t": PONG, "id": ping_id}


def seat_message(*, seat: int, resume: str, grace: int) -> dict[str, Any]:
    """Sent once a socket is admitted: the credential that alone opens this seat again, and
    how many seconds the seat is kept after a drop."""
    return {"t": SEAT, "seat": seat, "resume": resume, "grace": grace}


def snapshot_message(
    *, tick: int, seat: int, phase: str, state: Mapping[str, Any], acks: list[int], game: str
) -> dict[str, Any]:
    """``game`` names the rules ``state`` is of: a client picks its renderer by it."""
    return {
        "t": SNAPSHOT,
        "tick": tick,
        "seat": seat,
        "phase": phase,
        "state": state,
        "acks": acks,
        "game": game,
    }


def phase_message(*, phase: str, present: list[int], away: list[list[int]] | None = None) -> dict[str, Any]:
    """``away``: ``[seat, forfeit_tick]`` of each dropped seat still within its grace period."""
    return {"t": PHASE, "phase": phase, "present": present, "away": away or []}


def frame_message(
    *, tick: int, delta: Mapping[str, Any], acks: list[int], events: list[list[Any]]
) -> dict[str, Any]:
    return {"t": FRAME, "tick": tick, "d": delta, "acks": acks, "ev": events}


def end_message(*, tick: int, result: Mapping[str, Any]) -> dict[str, Any]:
    return {"t": END, "tick": tick, "result": result}
