"""What every game's simulation must hold, whatever its rules: the shared half of each game's
whole-match tests (``test_simulation.py`` for the arena, ``test_grid_simulation.py``, and the
tests ``manage.py startgame`` writes). A game's tests record a scripted match with bots of
their own into a ``Run``; these functions check it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import msgpack

from match.rules import GameRules, PlayerSpec

InputLog = list[dict[int, dict[str, Any]]]
Bots = Callable[[Any], dict[int, dict[str, Any]]]  # a state -> that tick's input fields by seat


@dataclass
class Run:
    """A recorded match: every tick's inputs, every state (the initial one first), the events."""

    rules: GameRules
    log: InputLog
    states: list[Any]
    events: list[list[Any]]

    @property
    def hashes(self) -> list[str]:
        return [short_hash(self.rules, state) for state in self.states]


def short_hash(rules: GameRules, state: Any) -> str:
    return rules.state_hash(state)[:16]


def decoded(rules: GameRules, fields: dict[int, dict[str, Any]]) -> dict[int, Any]:
    return {seat: rules.decode_input(f) for seat, f in fields.items()}


def record(
    rules: GameRules, players: list[PlayerSpec], settings: dict[str, int], seed: int, bots: Bots
) -> Run:
    """Play a match to its end, ``bots`` giving each tick's inputs."""
    state = rules.initial_state(players=players, settings=settings, seed=seed)
    run = Run(rules=rules, log=[], states=[state], events=[])
    while not rules.is_over(state):
        fields = bots(state)
        run.log.append(fields)
        state, events = rules.step(state, decoded(rules, fields))
        run.states.append(state)
        run.events.extend(events)
    return run


def replay(
    rules: GameRules, players: list[PlayerSpec], settings: dict[str, int], log: InputLog, seed: int
) -> list[str]:
    """The hashes of the match those inputs give, up to its end (a changed one may end sooner)."""
    state = rules.initial_state(players=players, settings=settings, seed=seed)
    hashes = [short_hash(rules, state)]
    for fields in log:
        if rules.is_over(state):
            break
        state, _ = rules.step(state, decoded(rules, fields))
        hashes.append(short_hash(rules, state))
    return hashes


def assert_golden(path: Path, hashes: list[str]) -> None:
    """The hashes are the golden file's, tick by tick (REGENERATE_GOLDEN=1 writes it instead)."""
    if os.environ.get("REGENERATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(hashes) + "\n", encoding="ascii")
    assert path.exists(), f"{path} is missing: run the tests with REGENERATE_GOLDEN=1"
    golden = path.read_text(encoding="ascii").split()
    mismatch = next((i for i, (a, b) in enumerate(zip(golden, hashes, strict=False)) if a != b), None)
    assert mismatch is None, f"the state diverges from the golden file at tick {mismatch}"
    assert len(golden) == len(hashes)


def assert_deltas_complete(rules: GameRules, pairs: Iterable[tuple[Any, Any]]) -> None:
    """snapshot(a) + delta(a, b) == snapshot(b), and apply_delta leaves its input alone."""
    for a, b in pairs:
        snap = rules.snapshot(a)
        assert rules.apply_delta(snap, rules.delta(a, b)) == rules.snapshot(b)
        assert snap == rules.snapshot(a), "apply_delta changed the snapshot it was given"


def assert_step_is_pure(rules: GameRules, state: Any, log: InputLog) -> None:
    """``step`` never changes the state it is given."""
    for fields in log:
        before = rules.state_hash(state)
        new, _ = rules.step(state, decoded(rules, fields))
        assert rules.state_hash(state) == before
        state = new


def assert_wire_safe(value: object, where: str) -> None:
    """Only str-keyed maps, lists, ints, bools and strs may reach msgpack."""
    if isinstance(value, dict):
        for k, v in value.items():
            assert type(k) is str, f"non-string key {k!r} in {where}"
            assert_wire_safe(v, where)
    elif isinstance(value, list):
        for v in value:
            assert_wire_safe(v, where)
    else:
        assert type(value) in (int, bool, str), f"{type(value).__name__} {value!r} in {where}"


def assert_messages_wire_safe(run: Run) -> None:
    """What the match sends (a snapshot, every delta, the events, the acks, the result) packs
    with msgpack and comes back the same."""
    rules, final = run.rules, run.states[-1]
    messages: list[tuple[str, object]] = [
        ("snapshot", rules.snapshot(run.states[len(run.states) // 2])),
        ("result", rules.result(final)),
        ("events", run.events),
        ("acks", rules.acks(final)),
    ]
    messages += [("delta", rules.delta(a, b)) for a, b in pairwise(run.states)]
    for where, message in messages:
        assert_wire_safe(message, where)
        packed = msgpack.packb(message, use_bin_type=True)
        assert msgpack.unpackb(packed, raw=False, strict_map_key=True) == message


def assert_checkpoints_go_on(run: Run, every: int = 97, ahead: int = 40) -> None:
    """What a tick worker taking a match over relies on: bytes -> state -> the same future."""
    rules, log = run.rules, run.log
    for tick in range(0, len(log), every):
        restored = rules.state_from_bytes(rules.state_bytes(run.states[tick]))
        assert restored == run.states[tick]
        for fields in log[tick : tick + ahead]:
            restored, _ = rules.step(restored, decoded(rules, fields))
        assert rules.state_hash(restored) == rules.state_hash(run.states[min(tick + ahead, len(log))])
    final = run.states[-1]
    assert rules.state_from_bytes(rules.state_bytes(final)) == final
