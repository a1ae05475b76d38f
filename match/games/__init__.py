"""Registry of the games a match can run, looked up by the name the lobby stores."""

from __future__ import annotations

from match.rules import GameRules

from .arena import ARENA

__all__ = ["GAMES", "UnknownGame", "get_game"]

GAMES: dict[str, GameRules] = {ARENA.name: ARENA}


class UnknownGame(KeyError):
    """No game is registered under the requested name."""

    def __str__(self) -> str:
        # KeyError's str() would quote the message a second time.
        return str(self.args[0]) if self.args else "unknown game"


def get_game(name: str) -> GameRules:
    """Return the rules for ``name``; raises ``UnknownGame`` so callers can reject the request."""
    try:
        return GAMES[name]
    except KeyError:
        raise UnknownGame(f"unknown game {name!r}") from None
