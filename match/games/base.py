"""The half of a ``GameRules`` object that every game here writes the same way, so that a game
writes only its own half (``initial_state``, ``decode_input``, ``idle_input``).

A game's state carries ``tick``, ``over``, ``reason`` and ``players`` (each with the ``seq`` of
its last applied input) and copies itself; one tick runs the game's ``STAGES`` in order on a
copy; a forfeit runs its forfeit stage on a copy; everything on the wire is its ``wire``
module's (snapshot, delta, apply_delta, checkpoint bytes, result, hash).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, Self, TypeVar

from match.rules import Event, GameOver, Wire


class _Seat(Protocol):
    @property
    def seq(self) -> int: ...


class StagedState(Protocol):
    tick: int
    over: bool
    reason: str

    @property
    def players(self) -> Sequence[_Seat]: ...

    def copy(self) -> Self: ...


S = TypeVar("S", bound=StagedState)
Stages = Sequence[tuple[str, Callable[[Any, Mapping[int, Any], list[Event]], None]]]
Forfeit = Callable[[Any, int, list[Event]], None]


class StagedRules(Generic[S]):
    """Subclassed by a game's rules class; stateless, so one shared instance suffices."""

    def __init__(
        self, *, name: str, min_players: int, max_players: int, stages: Stages, forfeit: Forfeit, wire: Any
    ) -> None:
        self.name: str = name
        self.min_players: int = min_players
        self.max_players: int = max_players
        self._stages = stages
        self._forfeit = forfeit
        self._wire = wire  # the game's wire module

    def step(self, state: S, inputs: Mapping[int, Any]) -> tuple[S, list[Event]]:
        """Run every stage on a copy; raises ``GameOver`` once the match has ended (a runner that
        keeps ticking a finished match is a bug to surface, not to hide)."""
        if state.over:
            raise GameOver(f"match ended ({state.reason}) at tick {state.tick!r}")
        new = state.copy()
        new.tick += 1
        events: list[Event] = []
        for _name, stage in self._stages:
            stage(new, inputs, events)
        return new, events

    def forfeit(self, state: S, seat: int) -> tuple[S, list[Event]]:
        """The seat is out for good (the game's forfeit stage, on a copy); the next step ends
        the match if too few are left."""
        new = state.copy()
        events: list[Event] = []
        self._forfeit(new, seat, events)
        return new, events

    def tick(self, state: S) -> int:
        return state.tick

    def acks(self, state: S) -> list[int]:
        """Last applied input seq per seat, so clients can drop confirmed predictions."""
        return [p.seq for p in state.players]

    def is_over(self, state: S) -> bool:
        return state.over

    def snapshot(self, state: S) -> Wire:
        return self._wire.snapshot(state)

    def delta(self, prev: S, state: S) -> Wire:
        return self._wire.delta(prev, state)

    def apply_delta(self, snap: Wire, delta: Wire) -> Wire:
        return self._wire.apply_delta(snap, delta)

    def state_bytes(self, state: S) -> bytes:
        return self._wire.state_bytes(state)

    def state_from_bytes(self, data: bytes) -> S:
        return self._wire.state_from_bytes(data)

    def result(self, state: S) -> Wire:
        """Raises ``ValueError`` if the match is not over."""
        return self._wire.result(state)

    def state_hash(self, state: S) -> str:
        return self._wire.state_hash(state)


# --- reading a match's settings (each game's ``make_config``) --------------------------------


def refuse_unknown_settings(settings: Mapping[str, int], names: Sequence[str]) -> None:
    """A key the game does not know is refused: a typo would otherwise play the default."""
    unknown = sorted(set(settings) - set(names))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown!r}")


def int_setting(settings: Mapping[str, int], key: str, default: int, low: int, high: int) -> int:
    """Read one setting strictly: ints only (not bools), within ``[low, high]``."""
    value: object = settings.get(key, default)
    if type(value) is not int:
        raise ValueError(f"setting {key} must be an int, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"setting {key} must be in {low}..{high}, got {value!r}")
    return value


def ticks_for_ms(ms: int, tick_hz: int) -> int:
    """A duration in whole ticks, rounded up (at least one), so no rate exceeds its spec."""
    return max(1, -(-ms * tick_hz // 1000))
