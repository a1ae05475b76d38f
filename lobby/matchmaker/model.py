"""The lobby state's parts: players, parties, ready checks, rooms, and the Outbox a command
returns (what to send, which matches to create)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gameserver.protocol import ErrorCode, ProtocolError
from lobby.matchmaker.pairing import (
    Mode,
    PairingConfig,
    Ticket,
)

STATUS_INTERVAL = 1.0  # seconds between queue status pushes


class LobbyError(ProtocolError):
    """A request that is well formed but not allowed now; answered with an error, no strike."""


@dataclass(frozen=True)
class GameInfo:
    """What the lobby knows of a registered game: the players a match of it takes, and
    whether some mode plays it in teams (rooms of another game's team mode cannot)."""

    name: str
    min_players: int
    max_players: int
    teams: bool = False


@dataclass(frozen=True)
class LobbyConfig:
    pairing: PairingConfig
    party_max: int
    invite_ttl: float
    ready_timeout: float
    list_max: int
    server_timeout: float = 30.0  # seconds without a heartbeat before a server counts as dead
    reconnect_grace: float = 0.0  # seconds a player whose last socket closed keeps everything
    # The queue modes (settings.GAME_MODES) and games (settings.GAMES), in settings order.
    modes: Mapping[str, Mode] = field(default_factory=dict)
    games: Mapping[str, GameInfo] = field(default_factory=dict)

    def room_limits(self, mode: Mode, game: GameInfo) -> tuple[int, int]:
        """A room's (fewest players to start, most allowed): the game's range, capped by the
        mode's full match; a team mode needs a player per team."""
        low = max(game.min_players, mode.teams if mode.has_teams else 1)
        return low, min(game.max_players, mode.players)


@dataclass
class Member:
    user_id: int
    name: str
    channels: set[str] = field(default_factory=set)


@dataclass
class Party:
    id: int
    leader: int
    members: list[int]
    invites: dict[int, float] = field(default_factory=dict)  # user -> expiry


@dataclass
class Check:
    """A ready check: the found match waits for every player to accept."""

    id: int
    mode: str
    tickets: list[Ticket]
    teams: list[list[int]]
    deadline: float
    accepted: set[int] = field(default_factory=set)

    @property
    def players(self) -> list[int]:
        return [m for team in self.teams for m in team]


@dataclass
class Room:
    code: str
    host: int
    mode: str
    max: int
    public: bool
    password: str
    members: list[int]
    game: str  # what its match plays: the room's pick, or its mode's game


@dataclass
class PendingMatch:
    """A match the worker must create: from a ready check (rated) or a room (unrated)."""

    source: str  # "check" or "room"
    key: int | str  # check id or room code
    mode: str
    teams: list[list[int]]
    names: dict[int, str]
    game: str


@dataclass
class Outbox:
    """What a command wants done: (target kind, target, message) and matches to create."""

    sends: list[tuple[str, Any, dict[str, Any]]] = field(default_factory=list)
    matches: list[PendingMatch] = field(default_factory=list)
    online: list[tuple[int, bool]] = field(default_factory=list)

    def user(self, user_id: int, message: dict[str, Any]) -> None:
        self.sends.append(("user", user_id, message))

    def channel(self, channel: str, message: dict[str, Any]) -> None:
        self.sends.append(("channel", channel, message))

    def everyone(self, message: dict[str, Any]) -> None:
        self.sends.append(("all", None, message))

    def extend(self, other: Outbox) -> None:
        self.sends += other.sends
        self.matches += other.matches
        self.online += other.online


def lobby_error(code: ErrorCode, detail: str) -> LobbyError:
    return LobbyError(code, detail)


def status_text(status: str) -> str:
    return {
        "match": "in a match",
        "checking": "in a ready check",
        "queued": "already queued",
        "room": "in a room",
    }[status]
