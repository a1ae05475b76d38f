"""The contract between the match runner and a game's rules.

The runner (Channels consumers, tick loop) only ever talks to a game through
``GameRules`` so that games stay pure, deterministic and testable without
Django, clocks or sockets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, Protocol, TypedDict

__all__ = [
    "Event",
    "GameOver",
    "GameRules",
    "InvalidInput",
    "PlayerSpec",
    "Wire",
]

Wire = dict[str, object]
"""A msgpack-safe message part: string keys, values only ints/bools/strs/lists/dicts."""

Event = list[object]
"""A game event such as ``["hit", victim, shooter, damage]``; first item names it."""


class PlayerSpec(TypedDict):
    """Who sits where, as handed over by the lobby when a match starts.

    ``team`` is absent or -1 for no team; a game that supports teams treats
    the match as a team match when any seat has a team >= 0.
    """

    seat: int
    name: str
    team: NotRequired[int]


class InvalidInput(ValueError):
    """A client's input message is malformed; the runner should drop it, not crash."""


class GameOver(RuntimeError):
    """``step`` was called on a finished match, which is a bug in the runner."""


class GameRules(Protocol):
    """What a game must provide so the generic match runner can host it.

    States and decoded inputs are opaque to the runner (``Any``); it only
    passes them back to the same rules object. Optional: ``default_score_limit`` (int), the
    score limit of a match nobody chose one for, when the server-wide MATCH_SCORE_LIMIT does
    not suit the game's scoring.
    """

    name: str
    min_players: int
    max_players: int

    def initial_state(self, *, players: Sequence[PlayerSpec], settings: Mapping[str, int], seed: int) -> Any:
        """Build tick 0; all randomness later derives from ``seed``.

        Raises ``ValueError`` for bad seats, teams, settings or seed.
        """
        ...

    def decode_input(self, fields: Mapping[str, object]) -> Any:
        """Validate a client's input message; raise ``InvalidInput`` if bad."""
        ...

    def idle_input(self, state: Any, seat: int) -> Any:
        """An input that releases every control of ``seat`` (sequenced after its last one),
        applied when a player disconnects so an absent player does not keep moving or firing."""
        ...

    def forfeit(self, state: Any, seat: int) -> tuple[Any, list[Event]]:
        """``seat`` left and its grace period ran out: without mutating ``state``, put it out
        for good; the game decides what that means (the next ``step`` may end the match, and
        ``result`` ranks the seat accordingly)."""
        ...

    def step(self, state: Any, inputs: Mapping[int, Any]) -> tuple[Any, list[Event]]:
        """Advance one tick without mutating ``state``; return the new state and events."""
        ...

    def tick(self, state: Any) -> int:
        """Tick number of ``state`` (0 for the initial state)."""
        ...

    def acks(self, state: Any) -> list[int]:
        """Per seat, the last applied input seq (0 if none), for client reconciliation."""
        ...

    def snapshot(self, state: Any) -> Wire:
        """Full wire state, sent on join and resync."""
        ...

    def delta(self, prev: Any, state: Any) -> Wire:
        """What changed from ``prev`` to ``state`` in wire form; empty parts omitted."""
        ...

    def apply_delta(self, snap: Wire, delta: Wire) -> Wire:
        """Client-side reconstruction; lets tests prove deltas are complete."""
        ...

    def state_bytes(self, state: Any) -> bytes:
        """The whole state, internal fields included, for checkpoints (another tick worker
        takes a match over from them); ``state_from_bytes`` must give it back exactly."""
        ...

    def state_from_bytes(self, data: bytes) -> Any:
        """The inverse of ``state_bytes``; raises ``ValueError`` for bytes it did not make."""
        ...

    def is_over(self, state: Any) -> bool:
        """Whether the match has ended; ``step`` must not be called afterwards."""
        ...

    def result(self, state: Any) -> Wire:
        """Final ranking of a finished match."""
        ...

    def state_hash(self, state: Any) -> str:
        """sha256 hex of the full state incl. internal fields, to detect desyncs."""
        ...
