"""A tiny splitmix64 PRNG whose whole state is one int kept in the game state, shared by every
game (the arena, the grid, and those ``manage.py startgame`` writes).

Keeping the int in the state (never ``random``) makes every draw part of the hashed,
checkpointed, replayable state, and keeps ``step`` a pure function.
"""

from __future__ import annotations

MASK64 = (1 << 64) - 1


def seed_state(seed: int) -> int:
    """Map any int seed (even negative or huge) to a 64-bit PRNG state."""
    return seed & MASK64


def next_u64(state: int) -> tuple[int, int]:
    """Return ``(value, new_state)``; pure so callers store the new state explicitly."""
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31), state


def below(state: int, n: int) -> tuple[int, int]:
    """Return ``(value in [0, n), new_state)``; the modulo bias is negligible for small ``n``."""
    value, state = next_u64(state)
    return value % n, state
