"""Every tunable number of the arena game, in one place.

Speeds and durations are given per second (or in ms) and converted to
per-tick integers in ``state.make_config`` so changing ``tick_hz`` keeps the
game feel; all geometry is in integer world units so simulation results are
bit-identical on every machine.
"""

from __future__ import annotations

import math

WIDTH = 1600
HEIGHT = 900

PLAYER_RADIUS = 20
SHOT_RADIUS = 4
MAX_HP = 100
SHOT_DAMAGE = 25

PLAYER_SPEED_PER_S = 240
SHOT_SPEED_PER_S = 720
FIRE_INTERVAL_MS = 250
SHOT_LIFETIME_MS = 1500

DIAG_NUM = 707
"""Diagonal moves are scaled by DIAG_NUM / DIAG_DEN (~1/sqrt 2) so they are not faster."""
DIAG_DEN = 1000

DEFAULT_TICK_HZ = 20
DEFAULT_SCORE_LIMIT = 10
DEFAULT_TIME_LIMIT_S = 120
DEFAULT_RESPAWN_S = 3
MAX_TICK_HZ = 120

MIN_PLAYERS = 2
MAX_PLAYERS = 8

NO_TEAM = -1
"""``Player.team`` in free-for-all matches."""
TEAMS = (0, 1)
"""A team match has exactly these two teams; team 0's home is the left half, team 1's the right."""

AIM_STEPS = 4096
"""Aim is an angle in 1/4096 turns; 0 points +x, 1024 points +y (screen down)."""
TRIG_ONE = 1024
"""Fixed-point scale of COS/SIN: a unit vector has length ~TRIG_ONE."""

SEQ_MAX = 2**31 - 1

OBSTACLES: tuple[tuple[int, int, int, int], ...] = (
    (740, 390, 120, 120),
    (300, 180, 200, 50),
    (1100, 180, 200, 50),
    (300, 670, 200, 50),
    (1100, 670, 200, 50),
)
"""Axis-aligned ``(x, y, w, h)`` blocks, mirror-symmetric about both centre lines."""

SPAWN_POINTS: tuple[tuple[int, int], ...] = (
    (100, 100),
    (1500, 100),
    (100, 800),
    (1500, 800),
    (800, 100),
    (800, 800),
    (100, 450),
    (1500, 450),
    (450, 450),
    (1150, 450),
)
"""Fixed spawn centres clear of obstacles; at least MAX_PLAYERS so seats never share."""


def home_rank(x: int, team: int) -> int:
    """How well a spawn at ``x`` suits ``team``: 0 its home half, 1 the centre line, 2 the enemy half."""
    side = (x > WIDTH // 2) - (x < WIDTH // 2)
    if side == 0:
        return 1
    return 0 if (side < 0) == (team == 0) else 2


HOME_SPAWNS: tuple[tuple[tuple[int, int], ...], ...] = tuple(
    tuple(p for p in SPAWN_POINTS if home_rank(p[0], team) == 0) for team in TEAMS
)
"""Per team, the spawn points in its home half, in ``SPAWN_POINTS`` order."""


def _quarter_sines() -> list[int]:
    """Sine for the first quadrant only, so the full table is exactly symmetric."""
    quarter = AIM_STEPS // 4
    return [round(math.sin(i * 2 * math.pi / AIM_STEPS) * TRIG_ONE) for i in range(quarter + 1)]


def _build_tables() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Integer cos/sin per aim step, computed once so the simulation never uses floats."""
    q = _quarter_sines()
    quarter = AIM_STEPS // 4
    sin: list[int] = []
    for i in range(AIM_STEPS):
        quadrant, r = divmod(i, quarter)
        if quadrant == 0:
            sin.append(q[r])
        elif quadrant == 1:
            sin.append(q[quarter - r])
        elif quadrant == 2:
            sin.append(-q[r])
        else:
            sin.append(-q[quarter - r])
    cos = [sin[(i + quarter) % AIM_STEPS] for i in range(AIM_STEPS)]
    return tuple(cos), tuple(sin)


COS, SIN = _build_tables()
