"""Forfeit in the arena: a seat whose player did not come back is out, and the result says so."""

from __future__ import annotations

from typing import Any

import pytest

from match.games.arena import ARENA, ArenaInput, ArenaState
from match.games.arena import constants as c
from match.rules import PlayerSpec

SETTINGS = {"tick_hz": 20, "score_limit": 10, "time_limit_ticks": 2400}


def start(teams: list[int] | None = None, players: int = 3) -> ArenaState:
    specs: list[PlayerSpec] = []
    for seat in range(len(teams) if teams else players):
        spec: PlayerSpec = {"seat": seat, "name": f"p{seat}"}
        if teams:
            spec["team"] = teams[seat]
        specs.append(spec)
    return ARENA.initial_state(players=specs, settings=SETTINGS, seed=7)


def run(state: ArenaState, ticks: int, inputs: dict[int, ArenaInput] | None = None) -> ArenaState:
    for _ in range(ticks):
        if ARENA.is_over(state):
            break
        state, _events = ARENA.step(state, inputs or {})
    return state


def test_a_forfeit_puts_the_seat_out_without_touching_the_state_given():
    state = run(start(), 5)
    out, events = ARENA.forfeit(state, 1)
    assert events == [["forfeit", 1]]
    assert (out.players[1].forfeit, out.players[1].alive, out.players[1].hp) == (True, False, 0)
    assert (state.players[1].forfeit, state.players[1].alive) == (False, True)
    assert ARENA.forfeit(out, 1)[1] == [], "a second forfeit of the same seat is a no-op"


def test_a_forfeited_seat_never_respawns_and_its_inputs_are_ignored():
    state, _ = ARENA.forfeit(run(start(), 3), 0)
    later = run(
        state,
        SETTINGS["tick_hz"] * (c.DEFAULT_RESPAWN_S + 2),
        {0: ArenaInput(seq=9, mx=1, my=0, aim=0, fire=True)},
    )
    p = later.players[0]
    assert (p.alive, p.seq, p.x, p.y) == (False, 0, state.players[0].x, state.players[0].y)
    assert not any(shot.owner == 0 for shot in later.shots)


def test_free_for_all_goes_on_while_two_are_left_and_ends_when_one_is():
    state, _ = ARENA.forfeit(start(players=3), 2)
    state, _ = ARENA.step(state, {})
    assert not ARENA.is_over(state)
    state, _ = ARENA.forfeit(state, 0)
    state, events = ARENA.step(state, {})
    assert ARENA.is_over(state)
    assert ["end", "forfeit"] in events
    result: Any = ARENA.result(state)
    assert result["reason"] == "forfeit"
    assert [(e["s"], e["rank"], e.get("ff", False)) for e in result["ranking"]] == [
        (1, 1, False),
        (0, 2, True),
        (2, 2, True),
    ]


def test_a_team_is_out_when_every_member_forfeited():
    state, _ = ARENA.forfeit(start(teams=[0, 0, 1, 1]), 0)
    state, _ = ARENA.step(state, {})
    assert not ARENA.is_over(state), "a team with one member left plays on"
    state, _ = ARENA.forfeit(state, 1)
    state, _ = ARENA.step(state, {})
    result: Any = ARENA.result(state)
    assert result["reason"] == "forfeit"
    assert result["teams"] == [{"tm": 1, "sc": 0, "rank": 1}, {"tm": 0, "sc": 0, "rank": 2, "ff": True}]


def test_the_score_limit_reached_on_the_same_tick_wins_over_a_forfeit():
    state = start(players=2)
    state.players[0].score = SETTINGS["score_limit"]
    state, _ = ARENA.forfeit(state, 1)
    state, _ = ARENA.step(state, {})
    assert ARENA.result(state)["reason"] == "score"


def test_the_forfeit_reaches_clients_in_the_delta_and_snapshot():
    state = start(players=3)
    out, _ = ARENA.forfeit(state, 2)
    after, _ = ARENA.step(out, {})
    delta: Any = ARENA.delta(state, after)
    changed = {p["s"]: p for p in delta["p"]}
    assert changed[2]["ff"] is True
    assert ARENA.apply_delta(ARENA.snapshot(state), ARENA.delta(state, after)) == ARENA.snapshot(after)
    snapshot: Any = ARENA.snapshot(after)
    assert [p.get("ff", False) for p in snapshot["players"]] == [False, False, True]


@pytest.mark.parametrize("seat", [0, 1])
def test_a_forfeit_changes_the_state_hash(seat):
    state = start(players=3)
    assert ARENA.state_hash(ARENA.forfeit(state, seat)[0]) != ARENA.state_hash(state)
