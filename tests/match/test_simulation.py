"""Whole-match properties of the arena: golden determinism, complete deltas, purity.

A scripted 4-player match (seed 42, bot inputs from ``random.Random(7)``) is
recorded once per module; its input log is then replayed to prove that the
same seed and inputs give the same state hash on every tick, here and on any
other machine (the golden file).
"""

from __future__ import annotations

import random
from collections import Counter
from itertools import pairwise
from pathlib import Path

import msgpack
import pytest

from match.games.arena import ARENA
from match.games.arena import constants as c
from match.rules import PlayerSpec
from tests.match import simulation
from tests.match.simulation import InputLog, Run

GOLDEN = Path(__file__).parent / "golden" / "arena_seed42_4p.txt"
SEED = 42
SEATS = 4
TICKS = 600
SETTINGS = {"time_limit_ticks": TICKS, "score_limit": 50, "respawn_ticks": 40}
PLAYERS: list[PlayerSpec] = [{"seat": i, "name": f"bot{i}"} for i in range(SEATS)]


def aim_towards(dx: int, dy: int) -> int:
    """Integer-only aim (so the log is identical on every machine): best of 256 directions."""
    best = max(range(0, c.AIM_STEPS, 16), key=lambda a: c.COS[a] * dx + c.SIN[a] * dy)
    return best


def bot_inputs(rnd: random.Random, snap: dict[str, object], seqs: list[int]) -> dict[int, dict[str, object]]:
    """Aggressive bots: chase and shoot the nearest living enemy, sometimes resending stale seqs."""
    players = snap["players"]
    assert isinstance(players, list)
    out: dict[int, dict[str, object]] = {}
    for me in players:
        if rnd.random() < 0.4:
            continue
        seat = me["s"]
        enemies = [p for p in players if p["s"] != seat and p["al"]]
        aim = rnd.randrange(c.AIM_STEPS)
        mx, my = rnd.randint(-1, 1), rnd.randint(-1, 1)
        if enemies:
            tx = min(enemies, key=lambda p: (p["x"] - me["x"]) ** 2 + (p["y"] - me["y"]) ** 2)
            dx, dy = tx["x"] - me["x"], tx["y"] - me["y"]
            aim = (aim_towards(dx, dy) + rnd.randint(-24, 24)) % c.AIM_STEPS
            if rnd.random() < 0.6:
                mx = (dx > 0) - (dx < 0)
                my = (dy > 0) - (dy < 0)
        if rnd.random() < 0.05 and seqs[seat] > 0:
            seq = seqs[seat]
        else:
            seqs[seat] += 1
            seq = seqs[seat]
        out[seat] = {"t": "input", "seq": seq, "mx": mx, "my": my, "aim": aim, "fire": rnd.random() < 0.85}
    return out


def record() -> Run:
    rnd = random.Random(7)
    seqs = [0] * SEATS
    return simulation.record(
        ARENA, PLAYERS, SETTINGS, SEED, lambda state: bot_inputs(rnd, ARENA.snapshot(state), seqs)
    )


def replay(log: InputLog, seed: int = SEED) -> list[str]:
    return simulation.replay(ARENA, PLAYERS, SETTINGS, log, seed)


@pytest.fixture(scope="module")
def recorded() -> Run:
    return record()


def test_the_scripted_match_runs_to_the_time_limit(recorded: Run) -> None:
    assert len(recorded.log) == TICKS
    assert recorded.events[-1] == ["end", "time"]
    assert ARENA.result(recorded.states[-1])["reason"] == "time"


def test_the_scripted_match_covers_shots_hits_knockouts_and_respawns(recorded: Run) -> None:
    counts = Counter(str(e[0]) for e in recorded.events)
    assert counts["fire"] >= 100
    assert counts["hit"] >= 50
    assert counts["ko"] >= 10
    assert counts["respawn"] >= 10
    stale = sum(
        1
        for prev, fields in zip(recorded.states[:-1], recorded.log, strict=True)
        for seat, f in fields.items()
        if f["seq"] == prev.players[seat].seq
    )
    assert stale >= 5


def test_hashes_match_the_golden_file_every_tick(recorded: Run) -> None:
    simulation.assert_golden(GOLDEN, recorded.hashes)


def test_same_seed_and_inputs_give_same_hash_every_tick(recorded: Run) -> None:
    assert replay(recorded.log) == recorded.hashes
    assert replay(recorded.log) == recorded.hashes


def test_a_different_seed_gives_a_different_hash_sequence(recorded: Run) -> None:
    other = replay(recorded.log, seed=SEED + 1)
    assert other[0] != recorded.hashes[0]
    assert other[-1] != recorded.hashes[-1]


def test_changing_a_single_input_changes_later_hashes(recorded: Run) -> None:
    """Make one fresh, non-firing input of a living seat 0 fire: the change must propagate."""
    states, log = recorded.states, recorded.log

    def can_change(i: int) -> bool:
        p = states[i].players[0]
        fields = log[i].get(0)
        return (
            fields is not None
            and fields["seq"] != p.seq
            and fields["fire"] is False
            and p.alive
            and p.next_fire_tick <= i + 1
        )

    tick = next(i for i in range(100, TICKS) if can_change(i))
    changed_log = [dict(fields) for fields in log]
    changed_log[tick][0] = {**changed_log[tick][0], "fire": True}
    hashes = replay(changed_log)
    assert hashes[: tick + 1] == recorded.hashes[: tick + 1]
    assert hashes[tick + 1] != recorded.hashes[tick + 1]
    assert hashes[-1] != recorded.hashes[-1]


def test_snapshot_of_prev_plus_delta_equals_snapshot_of_new_every_tick(recorded: Run) -> None:
    simulation.assert_deltas_complete(ARENA, pairwise(recorded.states))


def test_delta_omits_empty_parts() -> None:
    state = ARENA.initial_state(players=PLAYERS, settings=SETTINGS, seed=SEED)
    new, _ = ARENA.step(state, {})
    assert ARENA.delta(state, new) == {"tick": 1}


def test_step_does_not_mutate_the_previous_state(recorded: Run) -> None:
    simulation.assert_step_is_pure(ARENA, recorded.states[0], recorded.log[:200])


def test_wire_messages_are_msgpack_safe_with_string_keys(recorded: Run) -> None:
    simulation.assert_messages_wire_safe(recorded)


@pytest.mark.parametrize(
    "field",
    ["rng", "next_shot_id", "p.mx", "p.fire", "p.seq", "p.next_fire_tick", "p.last_hitter"],
)
def test_state_hash_covers_internal_fields(recorded: Run, field: str) -> None:
    state = recorded.states[100].copy()
    before = ARENA.state_hash(state)
    if field.startswith("p."):
        p = state.players[0]
        setattr(p, field[2:], not p.fire if field == "p.fire" else getattr(p, field[2:]) + 1)
    else:
        setattr(state, field, getattr(state, field) + 1)
    assert ARENA.state_hash(state) != before


def test_a_state_from_its_checkpoint_bytes_goes_on_exactly_as_the_original(recorded: Run) -> None:
    simulation.assert_checkpoints_go_on(recorded)


@pytest.mark.parametrize("data", [b"", b"\x00", msgpack.packb([99, []]), msgpack.packb([1, [1, 2]])])
def test_bytes_that_are_no_arena_checkpoint_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match="arena state"):
        ARENA.state_from_bytes(data)
