"""The arena snapshot carries the movement rules' numbers, so the browser's prediction
(web/static/web/games/arena.js, checked against the rules in tests/test_arena_prediction.py)
never needs a copy of the constants."""

from __future__ import annotations

import pytest

from match.games.arena import ARENA, ArenaState
from match.games.arena import constants as c


def state_at(hz: int) -> ArenaState:
    state: ArenaState = ARENA.initial_state(
        players=[{"seat": 0, "name": "a"}, {"seat": 1, "name": "b"}], settings={"tick_hz": hz}, seed=1
    )
    return state


@pytest.mark.parametrize("hz", [1, 20, 60, 120])
def test_the_snapshot_says_how_far_a_player_moves_per_tick_at_its_tick_rate(hz: int) -> None:
    state = state_at(hz)
    snap = ARENA.snapshot(state)
    assert (snap["speed"], snap["diag_speed"]) == (state.config.move_speed, state.config.diag_speed)
    assert (snap["radius"], snap["w"], snap["h"]) == (c.PLAYER_RADIUS, c.WIDTH, c.HEIGHT)
    assert snap["obs"] == [list(o) for o in c.OBSTACLES]
    assert (snap["shot_radius"], snap["max_hp"], snap["respawn_ticks"]) == (
        c.SHOT_RADIUS,
        c.MAX_HP,
        state.config.respawn_ticks,
    )


def test_the_movement_numbers_survive_a_delta_and_are_not_resent_in_frames() -> None:
    state = state_at(20)
    new, _ = ARENA.step(state, {})
    snap = ARENA.snapshot(state)
    assert ARENA.apply_delta(snap, ARENA.delta(state, new))["speed"] == snap["speed"]
    assert not {"speed", "diag_speed", "radius"} & set(ARENA.delta(state, new))
