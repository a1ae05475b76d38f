"""The queue modes, read from ``settings.GAME_MODES`` and checked against the registered games.

A mode names its game and the shape of its matches (docs/operations.md, "Games and modes");
everything mode-specific in the lobby (queues, parties, teams, rooms, ratings, leaderboards,
the welcome's hints) comes from here, so a new mode or game is settings alone. Checked when
Django starts (``check_settings`` from LobbyConfig.ready): a bad entry stops the process with
ImproperlyConfigured naming it. Read again whenever the setting changes (tests override it).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from lobby.matchmaker.model import GameInfo
from lobby.matchmaker.pairing import Mode
from match.games import games as registered_games
from match.rules import GameRules, PlayerSpec

__all__ = ["Mode", "check_settings", "game_infos", "game_modes", "parse_modes", "rated_modes"]

MODE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,15}")  # Rating.mode and RatingChange.mode hold 16
RESERVED = frozenset({"room", "custom"})  # Match.mode of room and practice matches
KEYS = frozenset({"game", "players", "team_size", "party", "min", "wait", "rated"})

_lock = threading.Lock()
_parsed: tuple[Any, tuple[str, ...], dict[str, Mode]] | None = None


def _whole(where: str, spec: Mapping[str, Any], key: str, default: int | None, low: int, high: int) -> int:
    value = spec.get(key, default)
    if value is None:
        raise ImproperlyConfigured(f"{where} needs {key!r}")
    if type(value) is not int or not low <= value <= high:
        raise ImproperlyConfigured(f"{where}: {key!r} must be an integer in {low}..{high}, got {value!r}")
    return value


def _playable(where: str, rules: GameRules, players: int, team_size: int) -> None:
    """The game itself must accept a match of this shape (its own ``initial_state`` checks)."""
    seats: list[PlayerSpec] = [
        PlayerSpec(seat=seat, name=f"p{seat + 1}", team=seat // team_size if team_size > 1 else -1)
        for seat in range(players)
    ]
    hz = settings.TICK_HZ
    match_settings = {
        "tick_hz": hz,
        "score_limit": settings.MATCH_SCORE_LIMIT,
        "time_limit_ticks": hz * settings.MATCH_TIME_LIMIT,
    }
    try:
        rules.initial_state(players=seats, settings=match_settings, seed=1)
    except ValueError as exc:
        teams = f" in teams of {team_size}" if team_size > 1 else ""
        raise ImproperlyConfigured(
            f"{where}: {rules.name!r} refuses a match of {players}{teams}: {exc}"
        ) from None


def parse_modes(raw: object, games: Mapping[str, GameRules]) -> dict[str, Mode]:
    """``GAME_MODES`` as Modes, in order; raises ImproperlyConfigured naming the first problem."""
    if not isinstance(raw, Mapping) or not raw:
        raise ImproperlyConfigured(
            f"GAME_MODES must be a non-empty mapping of mode name -> mode, got {raw!r}"
        )
    modes: dict[str, Mode] = {}
    for name, spec in raw.items():
        where = f"GAME_MODES[{name!r}]"
        if not isinstance(name, str) or not MODE_NAME.fullmatch(name) or name in RESERVED:
            raise ImproperlyConfigured(
                f"{where}: a mode name is 1..16 of a-z, 0-9, _ and -, starting with a letter, "
                f"and not {sorted(RESERVED)!r}"
            )
        if not isinstance(spec, Mapping):
            raise ImproperlyConfigured(f"{where} must be a mapping such as {{'game': 'arena', 'players': 2}}")
        unknown = set(spec) - KEYS
        if unknown:
            raise ImproperlyConfigured(f"{where}: unknown keys {sorted(unknown)!r} (known: {sorted(KEYS)!r})")
        game = spec.get("game")
        if not isinstance(game, str) or game not in games:
            raise ImproperlyConfigured(
                f"{where}: game {game!r} is not in GAMES (registered: {', '.join(games)})"
            )
        rules = games[game]
        players = _whole(where, spec, "players", None, max(2, rules.min_players), rules.max_players)
        team_size = _whole(where, spec, "team_size", 1, 1, players // 2)
        if players % team_size:
            raise ImproperlyConfigured(f"{where}: {players} players do not make teams of {team_size}")
        party = _whole(where, spec, "party", team_size, 1, team_size if team_size > 1 else players)
        least = _whole(where, spec, "min", players, max(2, rules.min_players), players)
        if least < players and team_size > 1:
            raise ImproperlyConfigured(
                f"{where}: a smaller match ('min' < 'players') needs a mode without teams"
            )
        wait = _whole(where, spec, "wait", 0, 0, 24 * 3600)
        rated = spec.get("rated", True)
        if type(rated) is not bool:
            raise ImproperlyConfigured(f"{where}: 'rated' must be true or false, got {rated!r}")
        _playable(where, rules, players, team_size)
        if least < players:
            _playable(where, rules, least, 1)
        modes[name] = Mode(
            name=name,
            game=game,
            players=players,
            team_size=team_size,
            party=party,
            min_players=least,
            wait=wait if least < players else 0,
            rated=rated,
        )
    return modes


def game_modes() -> dict[str, Mode]:
    """Every configured mode by name, in ``settings.GAME_MODES`` order."""
    global _parsed
    raw, paths = settings.GAME_MODES, tuple(settings.GAMES)
    parsed = _parsed
    if parsed is not None and parsed[0] == raw and parsed[1] == paths:
        return parsed[2]
    with _lock:
        modes = parse_modes(raw, registered_games())
        _parsed = (_frozen_copy(raw), paths, modes)
        return modes


def _frozen_copy(raw: Any) -> Any:
    """A deep copy to compare the setting with later (so editing it in place is noticed)."""
    if isinstance(raw, Mapping):
        return {k: _frozen_copy(v) for k, v in raw.items()}
    return raw


def rated_modes() -> list[str]:
    """The modes whose matches are rated: the ones with ratings, leaderboards and profiles."""
    return [name for name, mode in game_modes().items() if mode.rated]


def game_infos() -> dict[str, GameInfo]:
    """Every registered game as the lobby sees it (players per match, played in teams)."""
    teamed = {mode.game for mode in game_modes().values() if mode.has_teams}
    return {
        name: GameInfo(
            name=name, min_players=rules.min_players, max_players=rules.max_players, teams=name in teamed
        )
        for name, rules in registered_games().items()
    }


def check_settings() -> None:
    """Read GAMES and GAME_MODES once at start, so a mistake stops the process there."""
    game_modes()
