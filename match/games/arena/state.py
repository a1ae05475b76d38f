"""Arena state types and their cheap copying.

``step`` must leave its input untouched because the runner keeps the previous
state to compute deltas; copying a handful of small dataclasses per tick is
far cheaper than ``deepcopy``.  Shots and the config are frozen, so the new
state may share them with the old one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from match.games.base import int_setting, refuse_unknown_settings, ticks_for_ms

from . import constants as c

SETTING_NAMES = ("tick_hz", "score_limit", "time_limit_ticks", "respawn_ticks")


@dataclass(frozen=True, slots=True)
class Config:
    """Per-match constants derived once from the settings, already in ticks."""

    tick_hz: int
    score_limit: int
    end_tick: int
    respawn_ticks: int
    move_speed: int
    diag_speed: int
    shot_speed: int
    fire_cooldown: int
    shot_life: int


@dataclass(frozen=True, slots=True)
class ArenaInput:
    """One validated client input; controls persist until the next one arrives."""

    seq: int
    mx: int
    my: int
    aim: int
    fire: bool


@dataclass(frozen=True, slots=True)
class Shot:
    """A projectile on a straight line: at tick t it is at (x0 + vx*(t-t0), y0 + vy*(t-t0)).

    Being immutable it is shared between states and never needs per-tick updates.
    """

    id: int
    owner: int
    x0: int
    y0: int
    vx: int
    vy: int
    t0: int


@dataclass(slots=True)
class Player:
    """A seat's visible data plus internal fields (controls, timers) that are hashed too."""

    seat: int
    name: str
    x: int
    y: int
    aim: int
    hp: int = c.MAX_HP
    score: int = 0
    kills: int = 0
    deaths: int = 0
    alive: bool = True
    mx: int = 0
    my: int = 0
    fire: bool = False
    seq: int = 0
    next_fire_tick: int = 0
    respawn_tick: int = 0
    last_hitter: int = -1
    team: int = c.NO_TEAM
    """0 or 1 in a team match, ``NO_TEAM`` in free-for-all; fixed for the whole match."""
    forfeit: bool = False
    """Left and did not come back within the grace period: out for the rest of the match."""

    def copy(self) -> Player:
        """Field-by-field copy; faster than ``dataclasses.replace`` on the hot path."""
        return Player(
            self.seat,
            self.name,
            self.x,
            self.y,
            self.aim,
            self.hp,
            self.score,
            self.kills,
            self.deaths,
            self.alive,
            self.mx,
            self.my,
            self.fire,
            self.seq,
            self.next_fire_tick,
            self.respawn_tick,
            self.last_hitter,
            self.team,
            self.forfeit,
        )

    def is_enemy_of(self, other: Player) -> bool:
        """Another seat, and not a teammate (in free-for-all everyone else is an enemy)."""
        return other.seat != self.seat and (self.team == c.NO_TEAM or other.team != self.team)


@dataclass(slots=True)
class ArenaState:
    """The whole match at one tick; ``players`` is indexed by seat, ``shots`` sorted by id."""

    config: Config
    tick: int
    rng: int
    next_shot_id: int
    players: list[Player]
    shots: list[Shot] = field(default_factory=list)
    over: bool = False
    reason: str = ""

    def copy(self) -> ArenaState:
        """A state that can be mutated freely without touching this one."""
        return ArenaState(
            self.config,
            self.tick,
            self.rng,
            self.next_shot_id,
            [p.copy() for p in self.players],
            list(self.shots),
            self.over,
            self.reason,
        )


def is_team_match(state: ArenaState) -> bool:
    """Whether the seats play in teams (``initial_state`` makes it all seats or none)."""
    return any(p.team != c.NO_TEAM for p in state.players)


def team_scores(state: ArenaState) -> list[int]:
    """Sum of the member scores, indexed by team; only meaningful in a team match."""
    scores = [0] * len(c.TEAMS)
    for p in state.players:
        if p.team != c.NO_TEAM:
            scores[p.team] += p.score
    return scores


def per_tick(per_second: int, tick_hz: int) -> int:
    """Round a per-second speed to the nearest whole units per tick (integers only)."""
    return (2 * per_second + tick_hz) // (2 * tick_hz)


def make_config(settings: Mapping[str, int]) -> Config:
    """Validate settings and derive per-tick numbers; unknown keys are rejected to catch typos."""
    refuse_unknown_settings(settings, SETTING_NAMES)
    big = 10**9
    hz = int_setting(settings, "tick_hz", c.DEFAULT_TICK_HZ, 1, c.MAX_TICK_HZ)
    score_limit = int_setting(settings, "score_limit", c.DEFAULT_SCORE_LIMIT, 1, big)
    end_tick = int_setting(settings, "time_limit_ticks", hz * c.DEFAULT_TIME_LIMIT_S, 1, big)
    respawn = int_setting(settings, "respawn_ticks", hz * c.DEFAULT_RESPAWN_S, 1, big)
    return Config(
        tick_hz=hz,
        score_limit=score_limit,
        end_tick=end_tick,
        respawn_ticks=respawn,
        move_speed=per_tick(c.PLAYER_SPEED_PER_S, hz),
        diag_speed=per_tick(c.PLAYER_SPEED_PER_S * c.DIAG_NUM, hz * c.DIAG_DEN),
        shot_speed=per_tick(c.SHOT_SPEED_PER_S, hz),
        fire_cooldown=ticks_for_ms(c.FIRE_INTERVAL_MS, hz),
        shot_life=ticks_for_ms(c.SHOT_LIFETIME_MS, hz),
    )
