"""The reference game: a top-down arena shooter for 2..8 players, free-for-all or two teams.

Split into constants, rng, state, stages (one tick) and wire (snapshots,
deltas, hashing); ``ARENA`` is the ``GameRules`` instance the registry uses.
"""

from __future__ import annotations

from .game import ARENA, ArenaRules
from .state import ArenaInput, ArenaState

__all__ = ["ARENA", "ArenaInput", "ArenaRules", "ArenaState"]
