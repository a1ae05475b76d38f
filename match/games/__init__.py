"""Registry of the games a match can run, looked up by the name the lobby stores.

The games are the modules listed in ``settings.GAMES``, each exposing its rules object as
``RULES``; a game is added by writing its module and listing it, never by editing a consumer
or worker. The registry is read again whenever the setting changes (tests override it).
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from match.rules import GameRules

__all__ = ["GAMES", "UnknownGame", "default_game", "games", "get_game"]


class UnknownGame(KeyError):
    """No game is registered under the requested name."""

    def __str__(self) -> str:
        # KeyError's str() would quote the message a second time.
        return str(self.args[0]) if self.args else "unknown game"


_lock = threading.Lock()
_loaded: tuple[tuple[str, ...], dict[str, GameRules]] | None = None


def load_games(paths: list[str] | tuple[str, ...]) -> dict[str, GameRules]:
    """Import each module of ``paths`` and index its ``RULES`` by name, in order; raises
    ImproperlyConfigured naming the first entry that is not a usable game."""
    if isinstance(paths, str) or not paths:
        raise ImproperlyConfigured(f"GAMES must be a non-empty list of module paths, got {paths!r}")
    found: dict[str, GameRules] = {}
    for index, path in enumerate(paths):
        where = f"GAMES[{index}] {path!r}"
        if not isinstance(path, str) or not path:
            raise ImproperlyConfigured(f"{where} must be a module path such as 'match.games.arena'")
        try:
            module = importlib.import_module(path)
        except ImportError as exc:
            raise ImproperlyConfigured(f"{where} cannot be imported: {exc}") from None
        rules: Any = getattr(module, "RULES", None)
        if rules is None:
            raise ImproperlyConfigured(f"{where} has no RULES (the game's rules object)")
        name, low, high = (getattr(rules, a, None) for a in ("name", "min_players", "max_players"))
        if not isinstance(name, str) or not name or len(name) > 32:
            raise ImproperlyConfigured(
                f"{where}: RULES.name must be a string of 1..32 characters, got {name!r}"
            )
        if type(low) is not int or type(high) is not int or not 1 <= low <= high:
            raise ImproperlyConfigured(
                f"{where}: RULES.min_players and max_players must be integers with "
                f"1 <= min <= max, got {low!r} and {high!r}"
            )
        if name in found:
            raise ImproperlyConfigured(f"{where}: a game named {name!r} is already registered")
        found[name] = rules
    return found


def games() -> dict[str, GameRules]:
    """Every registered game by name, in ``settings.GAMES`` order."""
    global _loaded
    paths = tuple(settings.GAMES)
    loaded = _loaded
    if loaded is not None and loaded[0] == paths:
        return loaded[1]
    with _lock:
        if _loaded is None or _loaded[0] != paths:
            _loaded = (paths, load_games(paths))
        return _loaded[1]


def default_game() -> str:
    """The first registered game: what a practice match or a room plays when none is named."""
    return next(iter(games()))


def get_game(name: str) -> GameRules:
    """Return the rules for ``name``; raises ``UnknownGame`` so callers can reject the request."""
    try:
        return games()[name]
    except KeyError:
        raise UnknownGame(f"unknown game {name!r} (games: {', '.join(games())})") from None


def __getattr__(name: str) -> Any:
    """``GAMES``: the registry as a dict, read when asked (so it follows the setting)."""
    if name == "GAMES":
        return games()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
