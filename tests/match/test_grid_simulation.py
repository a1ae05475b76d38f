"""Whole-match properties of the grid game: golden determinism, complete deltas, checkpoints.

A scripted 4-player match (seed 42, bot inputs from ``random.Random(7)``) is recorded once
per module; replaying its input log proves that the same seed and inputs give the same state
hash on every tick, here and on any other machine (the golden file). To regenerate the golden
file after a deliberate rules change: ``REGENERATE_GOLDEN=1 .venv/bin/python -m pytest
tests/match/test_grid_simulation.py`` (and say why in the commit).
"""

from __future__ import annotations

import random
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import msgpack
import pytest

from match.games.grid import GRID, GridState
from match.games.grid import constants as c
from match.rules import PlayerSpec
from tests.match import simulation
from tests.match.simulation import InputLog, Run

GOLDEN = Path(__file__).parent / "golden" / "grid_seed42_4p.txt"
SEED = 42
SETTINGS = {"score_limit": 3, "time_limit_ticks": 20 * 120}
PLAYERS: list[PlayerSpec] = [{"seat": i, "name": f"bot{i}"} for i in range(4)]


def free(state: GridState, x: int, y: int) -> bool:
    return 0 <= x < c.WIDTH and 0 <= y < c.HEIGHT and not state.grid[y * c.WIDTH + x]


def bot_inputs(rnd: random.Random, state: GridState, seqs: list[int]) -> dict[int, dict[str, Any]]:
    """Bots that dodge what is straight ahead, turn at random now and then, and sometimes send
    a reversal (ignored) or resend a stale seq."""
    out: dict[int, dict[str, Any]] = {}
    for p in state.players:
        if not p.alive:
            continue
        ahead = free(state, p.x + c.DX[p.dir], p.y + c.DY[p.dir])
        sides = [d for d in ((p.moved + 1) % 4, (p.moved + 3) % 4) if d != p.dir]
        open_sides = [d for d in sides if free(state, p.x + c.DX[d], p.y + c.DY[d])]
        roll = rnd.random()
        if not ahead and (open_sides or roll < 0.5):
            direction = rnd.choice(open_sides or sides)
        elif roll < 0.06:
            direction = rnd.choice(sides)
        elif roll < 0.08:
            direction = (p.moved + 2) % 4
        else:
            continue
        if rnd.random() < 0.05 and seqs[p.seat] > 0:
            seq = seqs[p.seat]
        else:
            seqs[p.seat] += 1
            seq = seqs[p.seat]
        out[p.seat] = {"t": "input", "seq": seq, "dir": direction}
    return out


def record(players: list[PlayerSpec], settings: dict[str, int], seed: int) -> Run:
    rnd = random.Random(7)
    seqs = [0] * len(players)
    return simulation.record(GRID, players, settings, seed, lambda state: bot_inputs(rnd, state, seqs))


def replay(log: InputLog, seed: int = SEED) -> list[str]:
    return simulation.replay(GRID, PLAYERS, SETTINGS, log, seed)


@pytest.fixture(scope="module")
def recorded() -> Run:
    return record(PLAYERS, SETTINGS, SEED)


@pytest.fixture(scope="module")
def slow_ticks() -> Run:
    """Three bots at 5 Hz: every tick moves two cells, so deltas carry several cells a seat."""
    return record(PLAYERS[:3], {"tick_hz": 5, "score_limit": 2, "time_limit_ticks": 5 * 120}, 9)


def test_the_scripted_match_is_won_on_round_wins_after_several_rounds(recorded: Run) -> None:
    assert recorded.events[-1] == ["end", "score"]
    result = GRID.result(recorded.states[-1])
    ranking = result["ranking"]
    assert isinstance(ranking, list)
    assert ranking[0]["sc"] == 3
    assert ranking[0]["rank"] == 1
    assert result["rounds"] == sum(1 for e in recorded.events if e[0] == "round") >= 4


def test_the_scripted_match_covers_turns_crashes_head_ons_and_stale_inputs(recorded: Run) -> None:
    counts = Counter(str(e[0]) for e in recorded.events)
    assert counts["crash"] >= 12
    assert counts["start"] == counts["round"] - 1
    assert any(e[2] == c.WALL for e in recorded.events if e[0] == "crash")
    assert any(e[2] not in (c.WALL, e[1]) for e in recorded.events if e[0] == "crash")
    turns = reversals = stale = 0
    for prev, new, fields in zip(recorded.states[:-1], recorded.states[1:], recorded.log, strict=True):
        for seat, f in fields.items():
            old = prev.players[seat]
            if f["seq"] <= old.seq:
                stale += 1
            elif f["dir"] == (old.moved + 2) % 4:
                reversals += 1
                assert new.players[seat].dir == old.dir, "a reversal is ignored"
            elif new.players[seat].dir != old.dir:
                turns += 1
    assert turns >= 50
    assert reversals >= 5
    assert stale >= 3


def test_hashes_match_the_golden_file_every_tick(recorded: Run) -> None:
    simulation.assert_golden(GOLDEN, recorded.hashes)


def test_same_seed_and_inputs_give_same_hash_every_tick(recorded: Run) -> None:
    assert replay(recorded.log) == recorded.hashes


def test_a_different_seed_gives_a_different_hash_sequence(recorded: Run) -> None:
    other = replay(recorded.log, seed=SEED + 1)
    assert other[0] != recorded.hashes[0]
    assert other[-1] != recorded.hashes[-1]


def test_changing_a_single_turn_changes_later_hashes(recorded: Run) -> None:
    states, log = recorded.states, recorded.log
    tick = next(
        i
        for i in range(100, len(log))
        if 0 in log[i] and log[i][0]["seq"] > states[i].players[0].seq and states[i].players[0].alive
    )
    changed = [dict(fields) for fields in log]
    changed[tick][0] = {**changed[tick][0], "dir": (changed[tick][0]["dir"] + 1) % 4}
    hashes = replay(changed)
    assert hashes[: tick + 1] == recorded.hashes[: tick + 1]
    assert hashes[tick + 1] != recorded.hashes[tick + 1]


@pytest.mark.parametrize("which", ["recorded", "slow_ticks"])
def test_snapshot_of_prev_plus_delta_equals_snapshot_of_new_every_tick(which: str, request) -> None:
    run: Run = request.getfixturevalue(which)
    simulation.assert_deltas_complete(GRID, pairwise(run.states))
    most_cells = 0
    for prev, new in pairwise(run.states):
        if prev.round == new.round:
            delta = GRID.delta(prev, new)
            most_cells = max(most_cells, len(delta.get("c", [])) // 2)  # type: ignore[arg-type]
    assert GRID.is_over(run.states[-1])
    assert most_cells == (len(run.states[0].players) * 2 if which == "slow_ticks" else 4)


@pytest.mark.parametrize("gap", [2, 7, 45, 160])
def test_a_delta_between_any_two_states_is_complete_even_across_rounds(recorded: Run, gap: int) -> None:
    states = recorded.states
    pairs = [(states[i], states[i + gap]) for i in range(0, len(states) - gap, 13)]
    simulation.assert_deltas_complete(GRID, pairs)
    crossed = sum(a.round != b.round for a, b in pairs)
    if gap >= 45:
        assert crossed, "some pairs lie in different rounds"


def test_frames_stay_small_however_long_the_trails_grow(recorded: Run) -> None:
    riding = [
        len(msgpack.packb(GRID.delta(a, b))) for a, b in pairwise(recorded.states) if a.round == b.round
    ]
    assert max(riding) <= 80, "a delta carries heads and new cells, never the board"
    layouts = [
        len(msgpack.packb(GRID.delta(a, b))) for a, b in pairwise(recorded.states) if a.round != b.round
    ]
    assert len(layouts) >= 3
    assert max(layouts) <= 160, "a new round's delta: every player and the start cells"
    snap = max(len(msgpack.packb(GRID.snapshot(s))) for s in recorded.states)
    assert snap <= 4000


def test_an_idle_tick_delta_is_only_the_tick() -> None:
    state = GRID.initial_state(players=PLAYERS, settings=SETTINGS, seed=SEED)
    new, _ = GRID.step(state, {})
    assert GRID.delta(state, new) == {"tick": 1}


def test_step_does_not_mutate_the_previous_state(recorded: Run) -> None:
    simulation.assert_step_is_pure(GRID, recorded.states[0], recorded.log[:300])


def test_wire_messages_are_msgpack_safe_with_string_keys(recorded: Run) -> None:
    simulation.assert_messages_wire_safe(recorded)


@pytest.mark.parametrize("field", ["rng", "go_tick", "grid", "p.seq", "p.moved", "p.dir", "p.wins"])
def test_state_hash_covers_internal_fields(recorded: Run, field: str) -> None:
    state = recorded.states[100].copy()
    before = GRID.state_hash(state)
    if field == "grid":
        state.grid[0] ^= 1
    elif field.startswith("p."):
        p = state.players[0]
        setattr(p, field[2:], (getattr(p, field[2:]) + 1) % 4)
    else:
        setattr(state, field, getattr(state, field) + 1)
    assert GRID.state_hash(state) != before


def test_a_state_from_its_checkpoint_bytes_goes_on_exactly_as_the_original(recorded: Run) -> None:
    simulation.assert_checkpoints_go_on(recorded)


def test_arena_checkpoints_and_other_bytes_are_refused() -> None:
    from match.games.arena import ARENA

    arena = ARENA.initial_state(players=PLAYERS, settings={}, seed=1)
    good = msgpack.unpackb(GRID.state_bytes(GRID.initial_state(players=PLAYERS, settings={}, seed=1)))
    short_board = [good[0], [*good[1][:6], b"\x00" * 10, *good[1][7:]]]
    for data in [
        b"",
        b"\x00",
        ARENA.state_bytes(arena),
        msgpack.packb([99, []]),
        msgpack.packb([1, [1, 2]]),
        msgpack.packb(short_board, use_bin_type=True),
    ]:
        with pytest.raises(ValueError, match="grid state"):
            GRID.state_from_bytes(data)
