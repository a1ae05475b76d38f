"""Every tunable number of the grid game (light cycles), in one place.

Speeds and durations are per second and converted to ticks in ``state.make_config``, so the
game plays the same at any ``tick_hz``; the board is a grid of integer cells.
"""

from __future__ import annotations

WIDTH = 48
HEIGHT = 32
"""The board in cells; a cell is ``y * WIDTH + x`` in the flat grid."""

CELLS_PER_S = 10
"""How fast every cycle moves; at 20 Hz that is one cell every other tick."""
MAX_CELLS_PER_S = 240

DEFAULT_TICK_HZ = 20
MAX_TICK_HZ = 120
DEFAULT_SCORE_LIMIT = 3
"""Round wins that win the match."""
DEFAULT_TIME_LIMIT_S = 120
PAUSE_MS = 1500
"""After a round is decided: the crashed board stays on screen this long."""
READY_MS = 1000
"""After a round is laid out: cycles stand still this long before the first move."""

MIN_PLAYERS = 2
MAX_PLAYERS = 4

SEQ_MAX = 2**31 - 1

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3
"""Directions, clockwise, so ``(d + 2) % 4`` is the reversal of ``d``."""
DX = (0, 1, 0, -1)
DY = (-1, 0, 1, 0)

WALL = -1
"""``by`` of a ``crash`` event when the cycle ran into the edge of the board."""

SLOTS: tuple[tuple[int, int, int], ...] = (
    (6, HEIGHT // 2, RIGHT),
    (WIDTH - 7, HEIGHT // 2 - 1, LEFT),
    (WIDTH // 2 - 1, 4, DOWN),
    (WIDTH // 2, HEIGHT - 5, UP),
)
"""Start cells ``(x, y, dir)``, point-symmetric about the centre: a 2-player round uses the
first two, 3 and 4 players add the others; seats are dealt to them by a seeded shuffle."""
