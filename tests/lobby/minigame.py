"""A second registered game for the tests of the game and mode settings: the arena's rules under
another name, for 2..4 players. Listed in ``settings.GAMES`` by a test
(``"tests.lobby.minigame"``), it is a game the lobby, the API and the tick worker know only from
the registry, as any new game would be."""

from __future__ import annotations

from match.games.arena.game import ArenaRules


class MiniRules(ArenaRules):
    """The arena for at most four."""

    def __init__(self) -> None:
        super().__init__()
        self.name = "mini"
        self.max_players = 4


RULES = MiniRules()
