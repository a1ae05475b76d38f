"""Lobby messages on ``ws/lobby/``: type names, the shape of every client message, builders.

Same codec, frame rules and error message as matches (``core``). A client message is checked
against ``CLIENT_SCHEMAS`` (exact field set, types, ranges) before anything acts on it, so the
matchmaker only ever sees well-formed requests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .core import PING, ErrorCode, ProtocolError, require_uint31

# --- modes ----------------------------------------------------------------------------------
# The queue modes are configuration (settings.GAME_MODES, checked by lobby.modes): a
# ``queue_join`` or ``room_create`` names one of them. These are the default modes' names.
DUEL = "duel"
TEAM = "team"
FFA = "ffa"
GAME_MAX_CHARS = 32  # Match.game's length


def mode_names() -> tuple[str, ...]:
    """The configured mode names, in settings order (read when asked: they follow the setting)."""
    from django.conf import settings

    return tuple(settings.GAME_MODES)


def __getattr__(name: str) -> Any:
    """``MODES``: the configured mode names (``mode_names()``)."""
    if name == "MODES":
        return mode_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- client -> server -----------------------------------------------------------------------
CHAT = "chat"
PARTY_INVITE = "party_invite"
PARTY_ACCEPT = "party_accept"
PARTY_DECLINE = "party_decline"
PARTY_LEAVE = "party_leave"
PARTY_KICK = "party_kick"
QUEUE_JOIN = "queue_join"
QUEUE_LEAVE = "queue_leave"
READY = "ready"
ROOM_CREATE = "room_create"
ROOM_JOIN = "room_join"
ROOM_LEAVE = "room_leave"
ROOM_START = "room_start"

# --- server -> client -----------------------------------------------------------------------
WELCOME = "welcome"
PRESENCE = "presence"
# CHAT (same name both ways)
PARTY = "party"
PARTY_INVITED = "party_invited"
QUEUE = "queue"
MATCH_FOUND = "match_found"
READY_UPDATE = "ready_update"
MATCH_CANCELLED = "match_cancelled"
MATCH_READY = "match_ready"
ROOM = "room"
ROOM_LISTED = "room_listed"
RATING = "rating"

CHAT_MAX_CHARS = 200
PASSWORD_MAX_CHARS = 32
ROOM_CODE_CHARS = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud, typed by hand
ROOM_CODE_LEN = 6

# Room list events (``room_listed.event``).
ROOM_CREATED = "created"
ROOM_UPDATED = "updated"
ROOM_FILLED = "filled"
ROOM_STARTED = "started"
ROOM_CLOSED = "closed"

# Why a ready check ended without a match (``match_cancelled.reason``).
CANCEL_DECLINED = "declined"
CANCEL_TIMEOUT = "timeout"
CANCEL_LEFT = "left"


def _string(max_chars: int, *, allow_empty: bool = False) -> Callable[[str, object], object]:
    def check(field: str, value: object) -> object:
        if not isinstance(value, str) or len(value) > max_chars or (not allow_empty and not value):
            low = 0 if allow_empty else 1
            raise ProtocolError(
                ErrorCode.BAD_SHAPE, f"field {field!r} must be a string of {low}..{max_chars} characters"
            )
        return value

    return check


def _uint31(field: str, value: object) -> object:
    return require_uint31({field: value}, field)


def _bool(field: str, value: object) -> object:
    if type(value) is not bool:
        raise ProtocolError(ErrorCode.BAD_SHAPE, f"field {field!r} must be a boolean, got {value!r}")
    return value


def _mode(field: str, value: object) -> object:
    modes = mode_names()
    if not isinstance(value, str) or value not in modes:
        raise ProtocolError(
            ErrorCode.BAD_SHAPE, f"field {field!r} must be one of {list(modes)!r}, got {value!r}"
        )
    return value


def _small_int(field: str, value: object) -> object:
    if type(value) is not int or not 1 <= value <= 64:
        raise ProtocolError(
            ErrorCode.BAD_SHAPE, f"field {field!r} must be an integer in 1..64, got {value!r}"
        )
    return value


Checker = Callable[[str, object], object]
# type -> (required fields, optional fields); "t" is implied.
CLIENT_SCHEMAS: dict[str, tuple[dict[str, Checker], dict[str, Checker]]] = {
    PING: ({"id": _uint31}, {}),
    CHAT: ({"text": _string(CHAT_MAX_CHARS)}, {}),
    PARTY_INVITE: ({"player": _uint31}, {}),
    PARTY_ACCEPT: ({"party": _uint31}, {}),
    PARTY_DECLINE: ({"party": _uint31}, {}),
    PARTY_LEAVE: ({}, {}),
    PARTY_KICK: ({"player": _uint31}, {}),
    QUEUE_JOIN: ({"mode": _mode}, {}),
    QUEUE_LEAVE: ({}, {}),
    READY: ({"check": _uint31, "accept": _bool}, {}),
    ROOM_CREATE: (
        {"mode": _mode, "max": _small_int, "public": _bool},
        # ``game``: which registered game (the matchmaker checks it); absent: the mode's game.
        {"password": _string(PASSWORD_MAX_CHARS, allow_empty=True), "game": _string(GAME_MAX_CHARS)},
    ),
    ROOM_JOIN: ({"code": _string(16)}, {"password": _string(PASSWORD_MAX_CHARS, allow_empty=True)}),
    ROOM_LEAVE: ({}, {}),
    ROOM_START: ({}, {}),
}
CLIENT_TYPES = frozenset(CLIENT_SCHEMAS)


def check_lobby_message(message: Mapping[str, Any]) -> str:
    """Check a decoded lobby message against its schema; return its type or raise ProtocolError."""
    kind = message["t"]
    if kind not in CLIENT_SCHEMAS:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind!r}")
    required, optional = CLIENT_SCHEMAS[kind]
    fields = set(message) - {"t"}
    missing = set(required) - fields
    extra = fields - set(required) - set(optional)
    if missing or extra:
        raise ProtocolError(
            ErrorCode.BAD_SHAPE,
            f"{kind} takes fields {sorted(required)!r}"
            + (f" and optionally {sorted(optional)!r}" if optional else "")
            + f"; got {sorted(fields)!r}",
        )
    for name, value in message.items():
        if name != "t":
            (required.get(name) or optional[name])(name, value)
    return str(kind)


# --- server message builders ------------------------------------------------------------------

PlayerRef = dict[str, Any]  # {"id": int, "n": str}


def player_ref(player_id: int, name: str) -> PlayerRef:
    return {"id": player_id, "n": name}


def mode_info(
    *, mode: str, game: str, players: int, team_size: int, least: int, wait: int, rated: bool
) -> dict[str, Any]:
    """A queue mode as ``welcome.modes`` lists it: a full match is ``players`` in teams of
    ``team_size`` (1: no teams); a match of at least ``least`` (``min``) may start once the
    longest-waiting ticket has waited ``wait`` seconds (``min == players``: never)."""
    return {
        "mode": mode,
        "game": game,
        "players": players,
        "team_size": team_size,
        "min": least,
        "wait": wait,
        "rated": rated,
    }


def game_info(*, game: str, least: int, most: int) -> dict[str, Any]:
    """A registered game as ``welcome.games`` lists it: the players a match of it takes."""
    return {"game": game, "min": least, "max": most}


def welcome_message(
    *,
    me: Mapping[str, Any],
    ratings: Mapping[str, int],
    online: int,
    players: list[PlayerRef],
    chat: list[dict[str, Any]],
    rooms: list[dict[str, Any]],
    modes: list[dict[str, Any]],
    games: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "t": WELCOME,
        "me": dict(me),
        "ratings": dict(ratings),
        "online": online,
        "players": players,
        "chat": chat,
        "rooms": rooms,
        "modes": modes,
        "games": games,
    }


def presence_message(*, online: int, joined: list[PlayerRef], left: list[int]) -> dict[str, Any]:
    return {"t": PRESENCE, "online": online, "joined": joined, "left": left}


def chat_message(*, message_id: int, sender: PlayerRef, text: str, at: int) -> dict[str, Any]:
    """``at``: milliseconds since the Unix epoch."""
    return {"t": CHAT, "id": message_id, "from": sender, "text": text, "at": at}


def party_message(
    *, party_id: int, leader: int, members: list[PlayerRef], invited: list[int]
) -> dict[str, Any]:
    """``party_id`` 0 with no members: not in a party. ``invited``: ids with a pending invite."""
    return {"t": PARTY, "id": party_id, "leader": leader, "members": members, "invited": invited}


def party_invited_message(*, party_id: int, sender: PlayerRef, expires_in: int) -> dict[str, Any]:
    return {"t": PARTY_INVITED, "party": party_id, "from": sender, "expires_in": expires_in}


def queue_message(
    *, mode: str, waited: int, window: int, rating: int, size: int, need: int
) -> dict[str, Any]:
    """``mode`` "" means not queued; ``waited`` in seconds, ``window`` in rating points;
    ``size`` players are queued in the mode and its next match needs ``need``."""
    return {
        "t": QUEUE,
        "mode": mode,
        "waited": waited,
        "window": window,
        "rating": rating,
        "size": size,
        "need": need,
    }


def match_found_message(
    *, check: int, mode: str, players: list[dict[str, Any]], timeout: int
) -> dict[str, Any]:
    return {"t": MATCH_FOUND, "check": check, "mode": mode, "players": players, "timeout": timeout}


def ready_update_message(*, check: int, accepted: list[int]) -> dict[str, Any]:
    return {"t": READY_UPDATE, "check": check, "accepted": accepted}


def match_cancelled_message(*, check: int, reason: str, requeued: bool) -> dict[str, Any]:
    return {"t": MATCH_CANCELLED, "check": check, "reason": reason, "requeued": requeued}


def match_ready_message(
    *, match_id: str, mode: str, seat: int, team: int, ticket: str, expires_in: int
) -> dict[str, Any]:
    """``team`` is -1 in modes without teams."""
    return {
        "t": MATCH_READY,
        "match": match_id,
        "mode": mode,
        "seat": seat,
        "team": team,
        "ticket": ticket,
        "ws_path": f"/ws/match/{match_id}/",
        "expires_in": expires_in,
    }


def room_message(room: Mapping[str, Any] | None) -> dict[str, Any]:
    """The room this player is in (with members), or ``{"code": ""}`` for none."""
    return {"t": ROOM, **(dict(room) if room is not None else {"code": ""})}


def room_listed_message(*, event: str, room: Mapping[str, Any]) -> dict[str, Any]:
    return {"t": ROOM_LISTED, "event": event, "room": dict(room)}


# How a rated match went for a player (``rating.outcome``).
OUTCOME_WIN = "win"  # first place, alone
OUTCOME_LOSS = "loss"  # not first, in a match of two sides
OUTCOME_DRAW = "draw"  # first place shared (with everyone, or in free-for-all with some)
OUTCOME_PLACE = "place"  # not first, in a match of more than two sides: ``rank`` is the placing
OUTCOMES = (OUTCOME_WIN, OUTCOME_LOSS, OUTCOME_DRAW, OUTCOME_PLACE)


def rating_message(
    *, mode: str, match_id: str, before: int, after: int, rank: int, outcome: str, skill: int
) -> dict[str, Any]:
    """``after - before`` = ``skill`` (the result moving the skill estimate) + ``certainty``
    (the estimate growing surer, which raises the conservative number shown)."""
    return {
        "t": RATING,
        "mode": mode,
        "match": match_id,
        "before": before,
        "after": after,
        "rank": rank,
        "outcome": outcome,
        "skill": skill,
        "certainty": after - before - skill,
    }


SERVER_TYPES = frozenset(
    {
        WELCOME,
        PRESENCE,
        CHAT,
        PARTY,
        PARTY_INVITED,
        QUEUE,
        MATCH_FOUND,
        READY_UPDATE,
        MATCH_CANCELLED,
        MATCH_READY,
        ROOM,
        ROOM_LISTED,
        RATING,
    }
)
