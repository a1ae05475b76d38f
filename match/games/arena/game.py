"""``ArenaRules``: the arena game behind the ``GameRules`` interface."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from match.games.base import StagedRules
from match.games.rng import below, seed_state
from match.rules import InvalidInput, PlayerSpec

from . import constants as c
from . import stages, wire
from .stages import STAGES
from .state import ArenaInput, ArenaState, Player, make_config

_INPUT_KEYS = frozenset({"seq", "mx", "my", "aim", "fire"})
_IGNORED_KEYS = frozenset({"t"})
_MESSAGE_KEYS = _INPUT_KEYS | _IGNORED_KEYS


def _strict_int(fields: Mapping[str, object], key: str, low: int, high: int) -> int:
    """An int field in ``[low, high]``; bools are rejected although they are ints in Python."""
    value = fields[key]
    if type(value) is not int:
        raise InvalidInput(f"{key} must be an int, got {value!r}")
    if not low <= value <= high:
        raise InvalidInput(f"{key} must be in {low}..{high}, got {value!r}")
    return value


def decode_input(fields: Mapping[str, object]) -> ArenaInput:
    """Validate a client's ``input`` message; anything unexpected raises ``InvalidInput``.

    Every input takes this path twice (at the socket, and in the owner), so a well-formed one
    is checked in one expression; anything else goes the long way, which names the problem.
    """
    keys = fields.keys()
    if keys in (_MESSAGE_KEYS, _INPUT_KEYS):
        seq, mx, my, aim, fire = fields["seq"], fields["mx"], fields["my"], fields["aim"], fields["fire"]
        if (
            type(seq) is int
            and type(mx) is int
            and type(my) is int
            and type(aim) is int
            and type(fire) is bool
            and 1 <= seq <= c.SEQ_MAX
            and -1 <= mx <= 1
            and -1 <= my <= 1
            and 0 <= aim < c.AIM_STEPS
        ):
            return ArenaInput(seq=seq, mx=mx, my=my, aim=aim, fire=fire)
    return _decode_input_slowly(fields)


def _decode_input_slowly(fields: Mapping[str, object]) -> ArenaInput:
    extra = sorted(set(fields) - _INPUT_KEYS - _IGNORED_KEYS)
    if extra:
        raise InvalidInput(f"unexpected input key(s) {extra!r}")
    missing = sorted(_INPUT_KEYS - set(fields))
    if missing:
        raise InvalidInput(f"missing input key(s) {missing!r}")
    fire = fields["fire"]
    if type(fire) is not bool:
        raise InvalidInput(f"fire must be a bool, got {fire!r}")
    return ArenaInput(
        seq=_strict_int(fields, "seq", 1, c.SEQ_MAX),
        mx=_strict_int(fields, "mx", -1, 1),
        my=_strict_int(fields, "my", -1, 1),
        aim=_strict_int(fields, "aim", 0, c.AIM_STEPS - 1),
        fire=fire,
    )


def _initial_aim(x: int) -> int:
    """Face the arena's vertical centre line so nobody starts looking at a wall."""
    return 0 if x < c.WIDTH // 2 else c.AIM_STEPS // 2


def _team_of(spec: PlayerSpec) -> int:
    """A seat's team from its spec: absent means ``NO_TEAM``; ints only (not bools)."""
    team: object = spec.get("team", c.NO_TEAM)
    if type(team) is not int or (team != c.NO_TEAM and team not in c.TEAMS):
        raise ValueError(f"team of seat {spec['seat']!r} must be -1, 0 or 1, got {team!r}")
    return team


def validate_teams(players: Sequence[PlayerSpec]) -> dict[int, int]:
    """Seat -> team; a team match (any team >= 0) needs every seat in team 0 or 1 and both teams."""
    teams = {spec["seat"]: _team_of(spec) for spec in players}
    if all(team == c.NO_TEAM for team in teams.values()):
        return teams
    teamless = sorted(seat for seat, team in teams.items() if team == c.NO_TEAM)
    if teamless:
        raise ValueError(f"in a team match every seat needs team 0 or 1, seat(s) {teamless!r} have none")
    empty = [team for team in c.TEAMS if team not in teams.values()]
    if empty:
        raise ValueError(f"a team match needs players on both teams, team {empty[0]!r} has none")
    return teams


def initial_state(players: Sequence[PlayerSpec], settings: Mapping[str, int], seed: int) -> ArenaState:
    """Tick 0: validated seats and teams, spawn points dealt by a seeded shuffle.

    In a team match each seat, by seat, takes the first free point of the
    shuffle in its team's home half, falling back to the centre line, then
    to the other half (only when a team has more than four members).
    """
    n = len(players)
    if not c.MIN_PLAYERS <= n <= c.MAX_PLAYERS:
        raise ValueError(f"arena needs {c.MIN_PLAYERS}..{c.MAX_PLAYERS} players, got {n!r}")
    seats = sorted(p["seat"] for p in players)
    if seats != list(range(n)):
        raise ValueError(f"seats must be 0..{n - 1} exactly once, got {seats!r}")
    teams = validate_teams(players)
    if type(seed) is not int:
        raise ValueError(f"seed must be an int, got {seed!r}")
    config = make_config(settings)
    rng = seed_state(seed)
    spawns = list(c.SPAWN_POINTS)
    for i in range(len(spawns) - 1, 0, -1):
        j, rng = below(rng, i + 1)
        spawns[i], spawns[j] = spawns[j], spawns[i]
    roster: list[Player] = []
    taken: set[tuple[int, int]] = set()
    for spec in sorted(players, key=lambda p: p["seat"]):
        seat = spec["seat"]
        team = teams[seat]
        if team == c.NO_TEAM:
            x, y = spawns[seat]
        else:
            free = [s for s in spawns if s not in taken]
            x, y = min(free, key=lambda s: c.home_rank(s[0], team))
            taken.add((x, y))
        roster.append(Player(seat=seat, name=spec["name"], x=x, y=y, aim=_initial_aim(x), team=team))
    return ArenaState(config=config, tick=0, rng=rng, next_shot_id=1, players=roster)


class ArenaRules(StagedRules[ArenaState]):
    """Top-down arena shooter for 2..8 players; stateless, so one shared instance suffices."""

    def __init__(self) -> None:
        super().__init__(
            name="arena",
            min_players=c.MIN_PLAYERS,
            max_players=c.MAX_PLAYERS,
            stages=STAGES,
            forfeit=stages.forfeit,
            wire=wire,
        )

    def initial_state(
        self, *, players: Sequence[PlayerSpec], settings: Mapping[str, int], seed: int
    ) -> ArenaState:
        """See ``initial_state``."""
        return initial_state(players, settings, seed)

    def decode_input(self, fields: Mapping[str, object]) -> ArenaInput:
        """See ``decode_input``."""
        return decode_input(fields)

    def idle_input(self, state: ArenaState, seat: int) -> ArenaInput:
        """Stand still, keep the aim, stop firing; the seq follows the seat's last applied one."""
        player = state.players[seat]
        return ArenaInput(seq=min(player.seq + 1, c.SEQ_MAX), mx=0, my=0, aim=player.aim, fire=False)


ARENA = ArenaRules()
