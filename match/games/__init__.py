"""Registry of the games a match can run, looked up by the name the lobby stores."""

from __future__ import annotations

from match.rules import GameRules

from .arena import ARENA

__all__ = ["GAMES", "UnknownGame", "get_game"]

GAMES: dict[str, GameRules] = {ARENA.name: ARENA}


class UnknownGame(KeyError):
    """No game is registered under the requested name."""


def get_game(name: str) -> GameRules:
    """Return the rules for ``name``; raises ``UnknownGame`` so callers can reject the request."""
    try:
        return GAMES[name]
    except KeyError:
        raise UnknownGame(f"unknown game {name!r}") from None
