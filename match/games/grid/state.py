"""Grid state types, their cheap copying, and the settings.

The board is one ``bytearray`` (0 empty, ``seat + 1`` a trail of that seat), so copying a
state per tick is a memcpy plus a few small dataclasses; ``step`` never mutates its input
because the runner keeps the previous state to compute deltas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from match.games.base import int_setting, refuse_unknown_settings, ticks_for_ms

from . import constants as c

SETTING_NAMES = (
    "tick_hz",
    "score_limit",
    "time_limit_ticks",
    "pause_ticks",
    "ready_ticks",
    "cells_per_s",
)


@dataclass(frozen=True, slots=True)
class Config:
    """Per-match constants derived once from the settings, already in ticks."""

    tick_hz: int
    score_limit: int
    end_tick: int
    pause_ticks: int
    ready_ticks: int
    cells_per_s: int


@dataclass(frozen=True, slots=True)
class GridInput:
    """One validated client input: the direction to turn to (0 up, 1 right, 2 down, 3 left)."""

    seq: int
    dir: int


@dataclass(slots=True)
class Cycle:
    """A seat's cycle: its head cell, heading and round wins, plus hashed internal fields."""

    seat: int
    name: str
    x: int
    y: int
    dir: int
    """The heading the next move takes (a turn changes it at once)."""
    moved: int
    """The heading of the last move; a turn to its reversal is ignored."""
    alive: bool = True
    """Still riding in this round."""
    wins: int = 0
    """Rounds won; the match goes to the first to ``score_limit``."""
    seq: int = 0
    forfeit: bool = False
    """Left and did not come back within the grace period: out for the rest of the match."""

    def copy(self) -> Cycle:
        """Field-by-field copy; faster than ``dataclasses.replace`` on the hot path."""
        return Cycle(
            self.seat,
            self.name,
            self.x,
            self.y,
            self.dir,
            self.moved,
            self.alive,
            self.wins,
            self.seq,
            self.forfeit,
        )


@dataclass(slots=True)
class GridState:
    """The whole match at one tick; ``players`` is indexed by seat.

    A round is laid out at some tick, its cycles start moving at ``go_tick``, and once it is
    decided ``next_tick`` says when the next one is laid out (0 while the round is on).
    """

    config: Config
    tick: int
    rng: int
    round: int
    go_tick: int
    next_tick: int
    grid: bytearray
    players: list[Cycle]
    over: bool = False
    reason: str = ""

    def copy(self) -> GridState:
        """A state that can be mutated freely without touching this one."""
        return GridState(
            self.config,
            self.tick,
            self.rng,
            self.round,
            self.go_tick,
            self.next_tick,
            bytearray(self.grid),
            [p.copy() for p in self.players],
            self.over,
            self.reason,
        )


def make_config(settings: Mapping[str, int]) -> Config:
    """Validate settings and derive per-tick numbers; unknown keys are rejected to catch typos."""
    refuse_unknown_settings(settings, SETTING_NAMES)
    big = 10**9
    hz = int_setting(settings, "tick_hz", c.DEFAULT_TICK_HZ, 1, c.MAX_TICK_HZ)
    return Config(
        tick_hz=hz,
        score_limit=int_setting(settings, "score_limit", c.DEFAULT_SCORE_LIMIT, 1, big),
        end_tick=int_setting(settings, "time_limit_ticks", hz * c.DEFAULT_TIME_LIMIT_S, 1, big),
        pause_ticks=int_setting(settings, "pause_ticks", ticks_for_ms(c.PAUSE_MS, hz), 1, big),
        ready_ticks=int_setting(settings, "ready_ticks", ticks_for_ms(c.READY_MS, hz), 1, big),
        cells_per_s=int_setting(settings, "cells_per_s", c.CELLS_PER_S, 1, c.MAX_CELLS_PER_S),
    )


def moves_due(cfg: Config, tick: int, go_tick: int) -> int:
    """Cells every cycle moves on ``tick``: cumulative moves are ``ceil(k * cells_per_s / hz)``
    after ``k`` ticks of riding, so the speed holds at any tick rate (several moves per tick
    below 10 Hz) and the first move comes on the ``go_tick`` itself."""
    k = tick - go_tick + 1
    if k < 1:
        return 0
    speed, hz = cfg.cells_per_s, cfg.tick_hz
    return _ceil_div(k * speed, hz) - _ceil_div((k - 1) * speed, hz)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)
