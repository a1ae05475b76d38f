"""``GridRules``: the grid game (light cycles) behind the ``GameRules`` interface."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from match.games.base import StagedRules
from match.games.rng import seed_state
from match.rules import InvalidInput, PlayerSpec

from . import constants as c
from . import stages, wire
from .stages import STAGES
from .state import Cycle, GridInput, GridState, make_config

_INPUT_KEYS = frozenset({"seq", "dir"})
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


def decode_input(fields: Mapping[str, object]) -> GridInput:
    """Validate a client's ``input`` message (``seq``, ``dir`` 0..3); anything else raises
    ``InvalidInput``. A well-formed one is checked in one expression, the rest the long way,
    which names the problem."""
    if fields.keys() in (_MESSAGE_KEYS, _INPUT_KEYS):
        seq, direction = fields["seq"], fields["dir"]
        if type(seq) is int and type(direction) is int and 1 <= seq <= c.SEQ_MAX and 0 <= direction <= 3:
            return GridInput(seq=seq, dir=direction)
    extra = sorted(set(fields) - _MESSAGE_KEYS)
    if extra:
        raise InvalidInput(f"unexpected input key(s) {extra!r}")
    missing = sorted(_INPUT_KEYS - set(fields))
    if missing:
        raise InvalidInput(f"missing input key(s) {missing!r}")
    return GridInput(seq=_strict_int(fields, "seq", 1, c.SEQ_MAX), dir=_strict_int(fields, "dir", 0, 3))


def initial_state(players: Sequence[PlayerSpec], settings: Mapping[str, int], seed: int) -> GridState:
    """Tick 0: validated seats (no teams), round 1 laid out by the seeded shuffle."""
    n = len(players)
    if not c.MIN_PLAYERS <= n <= c.MAX_PLAYERS:
        raise ValueError(f"grid needs {c.MIN_PLAYERS}..{c.MAX_PLAYERS} players, got {n!r}")
    seats = sorted(p["seat"] for p in players)
    if seats != list(range(n)):
        raise ValueError(f"seats must be 0..{n - 1} exactly once, got {seats!r}")
    for spec in players:
        team: object = spec.get("team", -1)
        if team != -1 or type(team) is not int:
            raise ValueError(f"grid has no teams, seat {spec['seat']!r} has team {team!r}")
    if type(seed) is not int:
        raise ValueError(f"seed must be an int, got {seed!r}")
    roster = [
        Cycle(seat=spec["seat"], name=spec["name"], x=0, y=0, dir=c.UP, moved=c.UP)
        for spec in sorted(players, key=lambda p: p["seat"])
    ]
    state = GridState(
        config=make_config(settings),
        tick=0,
        rng=seed_state(seed),
        round=0,
        go_tick=0,
        next_tick=0,
        grid=bytearray(c.WIDTH * c.HEIGHT),
        players=roster,
    )
    stages.lay_out_round(state)
    return state


class GridRules(StagedRules[GridState]):
    """Light cycles for 2..4 players, one per seat; stateless, so one shared instance suffices."""

    def __init__(self) -> None:
        super().__init__(
            name="grid",
            min_players=c.MIN_PLAYERS,
            max_players=c.MAX_PLAYERS,
            stages=STAGES,
            forfeit=stages.forfeit,
            wire=wire,
        )
        # Rounds to win, where the server's MATCH_SCORE_LIMIT (points, for the arena) would not fit.
        self.default_score_limit: int = c.DEFAULT_SCORE_LIMIT

    def initial_state(
        self, *, players: Sequence[PlayerSpec], settings: Mapping[str, int], seed: int
    ) -> GridState:
        """See ``initial_state``."""
        return initial_state(players, settings, seed)

    def decode_input(self, fields: Mapping[str, object]) -> GridInput:
        """See ``decode_input``."""
        return decode_input(fields)

    def idle_input(self, state: GridState, seat: int) -> GridInput:
        """Keep the heading (a cycle has no control to let go of); the seq follows the seat's
        last applied one, so a late input from the dropped socket cannot turn it."""
        player = state.players[seat]
        return GridInput(seq=min(player.seq + 1, c.SEQ_MAX), dir=player.dir)


GRID = GridRules()
