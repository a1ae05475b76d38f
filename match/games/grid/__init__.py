"""A second game on the rules interface: light cycles on a 48x32 grid for 2..4 players.

Every tick each cycle moves (10 cells a second), leaving a wall; hitting a wall, a trail or
another head knocks it out, the last one riding wins the round, and the first to
``score_limit`` round wins takes the match. Laid out like the arena: constants, rng, state,
stages (one tick), wire (snapshots, deltas, hashing) and game; ``RULES`` is what the game
registry loads.
"""

from __future__ import annotations

from .game import GRID, GridRules
from .state import Cycle, GridInput, GridState

RULES = GRID

__all__ = ["GRID", "RULES", "Cycle", "GridInput", "GridRules", "GridState"]
