"""The reference game: a top-down arena shooter for 2..8 players, free-for-all or two teams.

Split into constants, rng, state, stages (one tick) and wire (snapshots,
deltas, hashing); ``ARENA`` is the ``GameRules`` instance, exposed as ``RULES`` for the
registry (settings.GAMES).
"""

from __future__ import annotations

from .game import ARENA, ArenaRules
from .state import ArenaInput, ArenaState

RULES = ARENA

__all__ = ["ARENA", "RULES", "ArenaInput", "ArenaRules", "ArenaState"]
