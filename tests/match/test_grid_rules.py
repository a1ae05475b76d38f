"""Table-driven tests of the grid game's rules, driven through ``GRID.step``.

Each test lays out a tiny hand-placed board so a failure points at one rule (moves, turns,
collisions, rounds, the match's end, forfeits, decoding, settings).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pytest

from match.games.grid import GRID, RULES, GridInput, GridState
from match.games.grid import constants as c
from match.games.grid.stages import STAGES
from match.games.grid.state import make_config, moves_due
from match.rules import GameOver, InvalidInput, PlayerSpec

UP, RIGHT, DOWN, LEFT = c.UP, c.RIGHT, c.DOWN, c.LEFT
FAST = {"tick_hz": 20, "cells_per_s": 20, "ready_ticks": 1, "pause_ticks": 5}
"""One cell per tick from tick 1 on, so each step is exactly one move."""


def specs(n: int) -> list[PlayerSpec]:
    return [{"seat": i, "name": f"p{i}"} for i in range(n)]


def make(n: int = 2, **settings: int) -> GridState:
    """Tick 0 with an empty board and riding from tick 1; ``place`` puts the cycles."""
    state: GridState = GRID.initial_state(players=specs(n), settings={**FAST, **settings}, seed=1)
    state.go_tick = 1
    state.grid = bytearray(c.WIDTH * c.HEIGHT)
    for p in state.players:
        p.x, p.y = -1, -1
    return state


def place(state: GridState, seat: int, x: int, y: int, direction: int) -> None:
    p = state.players[seat]
    p.x, p.y, p.dir, p.moved = x, y, direction, direction
    state.grid[y * c.WIDTH + x] = seat + 1


def wall(state: GridState, seat: int, cells: list[tuple[int, int]]) -> None:
    """Trail cells of ``seat`` (without moving its head)."""
    for x, y in cells:
        state.grid[y * c.WIDTH + x] = seat + 1


def cell(state: GridState, x: int, y: int) -> int:
    return state.grid[y * c.WIDTH + x]


def inp(seq: int, direction: int) -> GridInput:
    decoded: GridInput = GRID.decode_input({"t": "input", "seq": seq, "dir": direction})
    return decoded


def run(
    state: GridState, ticks: int, inputs: Mapping[int, GridInput] | None = None
) -> tuple[GridState, list[list[object]]]:
    """Step ``ticks`` times, giving ``inputs`` on the first tick only."""
    events: list[list[object]] = []
    for i in range(ticks):
        state, ev = GRID.step(state, inputs if i == 0 and inputs else {})
        events.extend(ev)
    return state, events


def kinds(events: list[list[object]], kind: str) -> list[list[object]]:
    return [e for e in events if e[0] == kind]


def test_stages_run_in_the_documented_order() -> None:
    assert [name for name, _ in STAGES] == ["controls", "layout", "move", "judge", "end"]


def test_the_rules_object_names_the_game_and_its_seat_range() -> None:
    assert RULES is GRID
    assert (GRID.name, GRID.min_players, GRID.max_players) == ("grid", 2, 4)


# --- speed, at any tick rate ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hz", "cps", "first"),
    [
        (20, 10, [1, 0, 1, 0, 1, 0]),
        (10, 10, [1, 1, 1, 1, 1, 1]),
        (5, 10, [2, 2, 2, 2, 2, 2]),
        (60, 10, [1, 0, 0, 0, 0, 0]),
        (7, 10, [2, 1, 2, 1, 2, 1]),
    ],
)
def test_moves_per_tick_keep_the_speed_at_any_tick_rate(hz: int, cps: int, first: list[int]) -> None:
    cfg = make_config({"tick_hz": hz, "cells_per_s": cps})
    go = 11
    assert moves_due(cfg, go - 1, go) == 0, "nothing moves before the go tick"
    per_tick = [moves_due(cfg, go + k, go) for k in range(hz * 3)]
    assert per_tick[: len(first)] == first
    assert sum(per_tick[:hz]) == cps, "one second of riding covers cells_per_s cells"
    assert sum(per_tick) == 3 * cps


@pytest.mark.parametrize("hz", [10, 20, 30, 60])
def test_by_default_a_cycle_rides_ten_cells_in_its_first_second(hz: int) -> None:
    state = GRID.initial_state(players=specs(2), settings={"tick_hz": hz}, seed=3)
    p0 = state.players[0]
    start = (p0.x, p0.y)
    ready = make_config({"tick_hz": hz}).ready_ticks
    assert ready == hz, "a second of standing still before the first move"
    state, _ = run(state, ready - 1)
    assert (state.players[0].x, state.players[0].y) == start
    state, _ = run(state, hz)
    p = state.players[0]
    assert abs(p.x - start[0]) + abs(p.y - start[1]) == 10


# --- moves and turns ------------------------------------------------------------------------------


def test_a_cycle_moves_one_cell_in_its_heading_and_leaves_a_trail() -> None:
    state = make()
    place(state, 0, 10, 10, RIGHT)
    place(state, 1, 30, 20, UP)
    new, events = GRID.step(state, {})
    assert (new.players[0].x, new.players[0].y) == (11, 10)
    assert (new.players[1].x, new.players[1].y) == (30, 19)
    assert (cell(new, 10, 10), cell(new, 11, 10)) == (1, 1), "the old cell stays as trail"
    assert cell(new, 30, 19) == 2
    assert events == []
    assert cell(state, 11, 10) == 0, "step leaves its input untouched"


@pytest.mark.parametrize(
    ("heading", "turn", "where"),
    [
        (RIGHT, UP, (10, 9)),
        (RIGHT, DOWN, (10, 11)),
        (UP, LEFT, (9, 10)),
        (UP, RIGHT, (11, 10)),
        (LEFT, DOWN, (10, 11)),
        (DOWN, RIGHT, (11, 10)),
    ],
)
def test_a_turn_takes_the_next_move_ninety_degrees_off(
    heading: int, turn: int, where: tuple[int, int]
) -> None:
    state = make()
    place(state, 0, 10, 10, heading)
    place(state, 1, 30, 20, UP)
    new, _ = GRID.step(state, {0: inp(1, turn)})
    assert (new.players[0].x, new.players[0].y) == where
    assert (new.players[0].dir, new.players[0].moved) == (turn, turn)
    assert GRID.acks(new) == [1, 0]


@pytest.mark.parametrize(("heading", "reversal"), [(RIGHT, LEFT), (LEFT, RIGHT), (UP, DOWN), (DOWN, UP)])
def test_a_reversal_is_acknowledged_but_ignored(heading: int, reversal: int) -> None:
    state = make()
    place(state, 0, 10, 10, heading)
    place(state, 1, 30, 20, UP)
    new, events = GRID.step(state, {0: inp(1, reversal)})
    assert new.players[0].alive, "it did not fold back onto its own trail"
    assert new.players[0].dir == heading
    assert (new.players[0].x, new.players[0].y) == (10 + c.DX[heading], 10 + c.DY[heading])
    assert GRID.acks(new) == [1, 0]
    assert events == []


def test_a_turn_between_moves_shows_at_once_and_a_second_one_back_is_judged_by_the_last_move() -> None:
    """At 10 cells a second and 20 Hz the cycle moves every other tick: up, then left (the
    reversal of its last move, right) before the next move must not fold it back."""
    state = make(cells_per_s=10)
    place(state, 0, 10, 10, RIGHT)
    place(state, 1, 30, 20, UP)
    state, _ = GRID.step(state, {})  # tick 1 moves (the go tick), tick 2 does not
    assert (state.players[0].x, state.tick) == (11, 1)
    state, _ = GRID.step(state, {0: inp(1, UP)})
    assert (state.players[0].x, state.players[0].y, state.players[0].dir) == (11, 10, UP)
    assert state.players[0].moved == RIGHT
    state, _ = GRID.step(state, {0: inp(2, LEFT)})
    assert (state.players[0].x, state.players[0].y) == (11, 9), "the up turn was kept"
    assert state.players[0].alive
    assert GRID.acks(state) == [2, 0]


def test_a_stale_or_repeated_seq_is_ignored() -> None:
    state = make()
    place(state, 0, 10, 10, RIGHT)
    place(state, 1, 30, 20, UP)
    state, _ = GRID.step(state, {0: inp(5, UP)})
    state, _ = GRID.step(state, {0: inp(5, RIGHT)})
    state, _ = GRID.step(state, {0: inp(4, RIGHT)})
    assert state.players[0].dir == UP
    assert (state.players[0].x, state.players[0].y) == (10, 7)
    assert GRID.acks(state) == [5, 0]


def test_an_input_for_an_unknown_seat_is_a_runner_bug() -> None:
    with pytest.raises(ValueError, match="seat 5"):
        GRID.step(make(), {5: inp(1, UP)})


# --- collisions -------------------------------------------------------------------------------


@pytest.mark.parametrize(("x", "y", "heading"), [(47, 5, RIGHT), (0, 5, LEFT), (5, 0, UP), (5, 31, DOWN)])
def test_riding_off_the_board_is_a_crash_into_the_wall(x: int, y: int, heading: int) -> None:
    state = make(3)
    place(state, 0, x, y, heading)
    place(state, 1, 20, 20, UP)
    place(state, 2, 30, 20, UP)
    new, events = GRID.step(state, {})
    assert kinds(events, "crash") == [["crash", 0, c.WALL]]
    p = new.players[0]
    assert not p.alive
    assert (p.x, p.y) == (x, y), "the head stays on its last cell"


@pytest.mark.parametrize(("owner", "by"), [(1, 1), (0, 0)])
def test_riding_into_a_trail_is_a_crash_credited_to_its_owner(owner: int, by: int) -> None:
    state = make(3)
    place(state, 0, 10, 10, RIGHT)
    place(state, 1, 20, 20, UP)
    place(state, 2, 30, 20, UP)
    wall(state, owner, [(11, 10)])
    new, events = GRID.step(state, {})
    assert kinds(events, "crash") == [["crash", 0, by]]
    assert not new.players[0].alive
    assert new.players[1].alive
    assert new.players[2].alive
    assert cell(new, 11, 10) == owner + 1


def test_two_heads_entering_one_cell_both_crash() -> None:
    state = make(3)
    place(state, 0, 10, 10, RIGHT)
    place(state, 1, 12, 10, LEFT)
    place(state, 2, 30, 20, UP)
    new, events = GRID.step(state, {})
    assert kinds(events, "crash") == [["crash", 0, 1], ["crash", 1, 0]]
    assert cell(new, 11, 10) == 0, "nobody takes the contested cell"
    assert [p.alive for p in new.players] == [False, False, True]


def test_two_heads_swapping_cells_both_crash() -> None:
    state = make(3)
    place(state, 0, 10, 10, RIGHT)
    place(state, 1, 11, 10, LEFT)
    place(state, 2, 30, 20, UP)
    new, events = GRID.step(state, {})
    assert kinds(events, "crash") == [["crash", 0, 1], ["crash", 1, 0]]
    assert [(p.x, p.y) for p in new.players[:2]] == [(10, 10), (11, 10)]


def test_a_cycle_may_take_the_cell_beside_a_head_that_moves_on() -> None:
    """Moves are simultaneous: following a head one cell behind is safe, since the cell it
    enters was empty before the move."""
    state = make()
    place(state, 0, 10, 10, RIGHT)
    place(state, 1, 11, 9, DOWN)  # enters (11, 10) just as 0 does: a head-on
    new, events = GRID.step(state, {})
    assert kinds(events, "crash") == [["crash", 0, 1], ["crash", 1, 0]]
    state = make()
    place(state, 0, 10, 10, RIGHT)
    place(state, 1, 12, 9, DOWN)  # crosses 0's row a cell ahead: 0 then hits its trail
    new, events = GRID.step(state, {})
    assert events == []
    new, events = GRID.step(new, {})
    assert kinds(events, "crash") == [["crash", 0, 1]]


# --- rounds -----------------------------------------------------------------------------------


def test_the_last_cycle_riding_wins_the_round_and_the_next_is_laid_out_after_the_pause() -> None:
    state = make(3, pause_ticks=4, ready_ticks=3)
    place(state, 0, 47, 5, RIGHT)
    place(state, 1, 0, 6, LEFT)
    place(state, 2, 20, 20, UP)
    state, events = GRID.step(state, {})
    assert events == [["crash", 0, c.WALL], ["crash", 1, c.WALL], ["round", 1, 2]]
    assert [p.wins for p in state.players] == [0, 0, 1]
    assert state.next_tick == 1 + 4
    y = state.players[2].y
    state, events = run(state, 3, {2: inp(1, LEFT)})
    assert events == []
    assert (state.players[2].y, state.players[2].dir) == (y, UP), "no move or turn in the pause"
    assert GRID.acks(state) == [0, 0, 1]
    state, events = GRID.step(state, {})
    assert events == [["start", 2]]
    assert (state.round, state.go_tick, state.next_tick) == (2, 5 + 3, 0)
    assert all(p.alive for p in state.players)
    heads = sorted((p.x, p.y, p.dir) for p in state.players)
    assert heads == sorted(c.SLOTS[:3])
    assert sorted(i for i, v in enumerate(state.grid) if v) == sorted(
        y * c.WIDTH + x for x, y, _ in c.SLOTS[:3]
    ), "the board holds only the start cells"
    before = [(p.x, p.y) for p in state.players]
    state, _ = run(state, 2)
    assert [(p.x, p.y) for p in state.players] == before, "standing still until the go tick"
    state, _ = GRID.step(state, {})
    assert [(p.x, p.y) for p in state.players] != before


def test_a_round_where_the_last_cycles_crash_together_has_no_winner() -> None:
    state = make()
    place(state, 0, 10, 10, RIGHT)
    place(state, 1, 12, 10, LEFT)
    state, events = GRID.step(state, {})
    assert kinds(events, "round") == [["round", 1, -1]]
    assert [p.wins for p in state.players] == [0, 0]


def test_a_round_decided_on_one_sub_step_moves_nobody_further_that_tick() -> None:
    state = make(tick_hz=5, cells_per_s=10)  # two cells every tick
    place(state, 0, 47, 5, RIGHT)
    place(state, 1, 10, 20, UP)
    state, events = GRID.step(state, {})
    assert events == [["crash", 0, c.WALL], ["round", 1, 1]]
    assert (state.players[1].x, state.players[1].y) == (10, 19)


def test_layouts_deal_the_start_cells_by_a_seeded_shuffle() -> None:
    seen = set()
    for seed in range(12):
        state = GRID.initial_state(players=specs(4), settings={}, seed=seed)
        heads = tuple((p.x, p.y, p.dir) for p in state.players)
        assert sorted(heads) == sorted(c.SLOTS)
        seen.add(heads)
    assert len(seen) > 3, "seats do not always start in the same place"
    again = GRID.initial_state(players=specs(4), settings={}, seed=5)
    assert GRID.state_hash(again) == GRID.state_hash(
        GRID.initial_state(players=specs(4), settings={}, seed=5)
    )


@pytest.mark.parametrize("n", [2, 3, 4])
def test_start_cells_are_inside_the_board_and_point_symmetric(n: int) -> None:
    state = GRID.initial_state(players=specs(n), settings={}, seed=n)
    assert sum(1 for v in state.grid if v) == n
    for p in state.players:
        assert 0 <= p.x < c.WIDTH
        assert 0 <= p.y < c.HEIGHT
        assert cell(state, p.x, p.y) == p.seat + 1
    for (x, y, d), (mx, my, md) in [(c.SLOTS[0], c.SLOTS[1]), (c.SLOTS[2], c.SLOTS[3])]:
        assert (c.WIDTH - 1 - x, c.HEIGHT - 1 - y, (d + 2) % 4) == (mx, my, md)


# --- the end of the match ---------------------------------------------------------------------


def win_round(state: GridState, winner: int) -> GridState:
    """Every other riding cycle rides off the board now; the round goes to ``winner``."""
    for p in state.players:
        if p.alive and p.seat != winner:
            state.grid[p.y * c.WIDTH + p.x] = 0
            place(state, p.seat, 0, p.y, LEFT)
    state, _ = GRID.step(state, {})
    return state


def test_the_first_to_the_score_limit_wins_the_match() -> None:
    state = make(score_limit=2)
    place(state, 0, 10, 10, RIGHT)
    place(state, 1, 10, 20, RIGHT)
    state = win_round(state, 1)
    assert not GRID.is_over(state)
    state, _ = run(state, state.next_tick - state.tick)
    assert state.round == 2
    state = win_round(state, 1)
    assert GRID.is_over(state)
    assert state.reason == "score"
    result = GRID.result(state)
    assert result == {
        "reason": "score",
        "tick": state.tick,
        "rounds": 2,
        "ranking": [{"s": 1, "n": "p1", "rank": 1, "sc": 2}, {"s": 0, "n": "p0", "rank": 2, "sc": 0}],
    }
    with pytest.raises(GameOver):
        GRID.step(state, {})


def test_the_score_limit_beats_the_clock_on_the_same_tick() -> None:
    state = make(score_limit=1, time_limit_ticks=1)
    place(state, 0, 10, 10, RIGHT)
    place(state, 1, 47, 20, RIGHT)
    state, events = GRID.step(state, {})
    assert events[-1] == ["end", "score"]


@pytest.mark.parametrize(
    ("wins", "ranks"), [((1, 1, 0), [1, 1, 3]), ((2, 1, 1), [1, 2, 2]), ((0, 0, 0), [1, 1, 1])]
)
def test_the_time_limit_ranks_by_round_wins_and_equal_wins_share_a_rank(
    wins: tuple[int, int, int], ranks: list[int]
) -> None:
    state = make(3, time_limit_ticks=3)
    for seat, (x, heading) in enumerate([(10, UP), (20, UP), (30, UP)]):
        place(state, seat, x, 20, heading)
        state.players[seat].wins = wins[seat]
    state, events = run(state, 3)
    assert events == [["end", "time"]]
    result = GRID.result(state)
    assert result["reason"] == "time"
    ranking = result["ranking"]
    assert isinstance(ranking, list)
    assert [e["rank"] for e in ranking] == ranks
    assert [e["sc"] for e in ranking] == sorted(wins, reverse=True)


def test_a_result_before_the_end_is_refused() -> None:
    with pytest.raises(ValueError, match="not over"):
        GRID.result(make())


# --- forfeits ---------------------------------------------------------------------------------


def test_a_forfeit_puts_the_seat_out_for_good_without_touching_the_given_state() -> None:
    state = make(3)
    place(state, 0, 10, 10, RIGHT)
    place(state, 1, 10, 20, RIGHT)
    place(state, 2, 10, 25, RIGHT)
    before = GRID.state_hash(state)
    out, events = GRID.forfeit(state, 1)
    assert events == [["forfeit", 1]]
    assert GRID.state_hash(state) == before
    assert out.players[1].forfeit
    assert not out.players[1].alive
    assert GRID.forfeit(out, 1)[1] == [], "a second forfeit of the same seat is a no-op"
    out, _ = GRID.step(out, {1: inp(1, UP)})
    assert (out.players[1].x, out.players[1].y) == (10, 20), "a forfeited cycle stands"
    assert GRID.acks(out)[1] == 0, "and its inputs are not applied"
    assert not GRID.is_over(out), "two seats are left"
    out = win_round(out, 0)
    out, events = run(out, out.next_tick - out.tick)
    assert events == [["start", 2]]
    assert [p.alive for p in out.players] == [True, False, True]
    assert sum(1 for v in out.grid if v) == 2, "the forfeited seat has no start cell"


def test_a_forfeit_in_a_duel_ends_the_match_with_the_seat_ranked_last() -> None:
    state = make()
    place(state, 0, 10, 10, RIGHT)
    place(state, 1, 10, 20, RIGHT)
    state.players[1].wins = 2
    state, _ = GRID.forfeit(state, 1)
    state, events = GRID.step(state, {})
    assert kinds(events, "round") == [["round", 1, 0]], "the seat left riding takes the round"
    assert events[-1] == ["end", "forfeit"]
    result = GRID.result(state)
    assert result["ranking"] == [
        {"s": 0, "n": "p0", "rank": 1, "sc": 1},
        {"s": 1, "n": "p1", "rank": 2, "sc": 2, "ff": True},
    ]


def test_seats_that_forfeited_rank_after_everyone_else_by_their_wins() -> None:
    state = make(4, time_limit_ticks=2, score_limit=10)
    for seat in range(4):
        place(state, seat, 10 + seat * 5, 20, UP)
    for seat, wins in enumerate([0, 3, 2, 1]):
        state.players[seat].wins = wins
    state, _ = GRID.forfeit(state, 1)
    state, _ = GRID.forfeit(state, 2)
    state, _ = run(state, 2)
    ranking = GRID.result(state)["ranking"]
    assert isinstance(ranking, list)
    assert [(e["s"], e["rank"], e.get("ff", False)) for e in ranking] == [
        (3, 1, False),
        (0, 2, False),
        (1, 3, True),
        (2, 4, True),
    ]


def test_an_idle_input_keeps_the_heading_and_follows_the_last_seq() -> None:
    state = make()
    place(state, 0, 10, 10, RIGHT)
    place(state, 1, 10, 20, RIGHT)
    state, _ = GRID.step(state, {0: inp(7, UP)})
    idle = GRID.idle_input(state, 0)
    assert idle == GridInput(seq=8, dir=UP)
    new, _ = GRID.step(state, {0: idle})
    assert (new.players[0].dir, GRID.acks(new)) == (UP, [8, 0])


# --- decoding, settings, seats ----------------------------------------------------------------

VALID: dict[str, object] = {"t": "input", "seq": 3, "dir": 2}


def test_a_valid_input_decodes_with_or_without_its_type_field() -> None:
    assert GRID.decode_input(VALID) == GridInput(seq=3, dir=2)
    assert GRID.decode_input({"seq": 1, "dir": 0}) == GridInput(seq=1, dir=0)


@pytest.mark.parametrize(
    ("changes", "bad"),
    [
        ({"dir": 4}, "4"),
        ({"dir": -1}, "-1"),
        ({"dir": True}, "True"),
        ({"dir": "up"}, "'up'"),
        ({"dir": 1.0}, "1.0"),
        ({"seq": 0}, "0"),
        ({"seq": False}, "False"),
        ({"seq": 2**31}, str(2**31)),
        ({"mx": 1}, "'mx'"),
    ],
)
def test_malformed_inputs_are_rejected_naming_the_bad_value(changes: dict[str, object], bad: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(bad)):
        GRID.decode_input({**VALID, **changes})


@pytest.mark.parametrize("missing", ["seq", "dir"])
def test_an_input_missing_a_field_is_rejected(missing: str) -> None:
    with pytest.raises(InvalidInput, match=repr(missing)):
        GRID.decode_input({k: v for k, v in VALID.items() if k != missing})


@pytest.mark.parametrize("n", [0, 1, 5, 8])
def test_initial_state_rejects_player_counts_outside_two_to_four(n: int) -> None:
    with pytest.raises(ValueError, match=repr(n)):
        GRID.initial_state(players=specs(n), settings={}, seed=1)


@pytest.mark.parametrize("seats", [[0, 0], [1, 2], [0, 2, 3], [-1, 0]])
def test_initial_state_rejects_bad_seats(seats: list[int]) -> None:
    players: list[PlayerSpec] = [{"seat": s, "name": "x"} for s in seats]
    with pytest.raises(ValueError, match="seats"):
        GRID.initial_state(players=players, settings={}, seed=1)


@pytest.mark.parametrize("team", [0, 1, True])
def test_initial_state_rejects_teams(team: int) -> None:
    players: list[PlayerSpec] = [{"seat": 0, "name": "a", "team": team}, {"seat": 1, "name": "b"}]
    with pytest.raises(ValueError, match="no teams"):
        GRID.initial_state(players=players, settings={}, seed=1)


def test_initial_state_takes_team_minus_one_as_no_team() -> None:
    players: list[PlayerSpec] = [{"seat": 0, "name": "a", "team": -1}, {"seat": 1, "name": "b", "team": -1}]
    assert GRID.initial_state(players=players, settings={}, seed=1).round == 1


@pytest.mark.parametrize(
    ("settings", "bad"),
    [
        ({"tick_hz": 0}, "0"),
        ({"tick_hz": 121}, "121"),
        ({"tick_hz": True}, "True"),
        ({"score_limit": 0}, "0"),
        ({"time_limit_ticks": -5}, "-5"),
        ({"pause_ticks": 0}, "0"),
        ({"ready_ticks": 0}, "0"),
        ({"cells_per_s": 0}, "0"),
        ({"cells_per_s": 241}, "241"),
        ({"respawn_ticks": 3}, "'respawn_ticks'"),
    ],
)
def test_initial_state_rejects_bad_settings(settings: dict[str, int], bad: str) -> None:
    with pytest.raises(ValueError, match=re.escape(bad)):
        GRID.initial_state(players=specs(2), settings=settings, seed=1)


def test_the_settings_a_match_row_carries_are_accepted_and_converted_to_ticks() -> None:
    """``match_create`` stores ``tick_hz``, ``score_limit`` and ``time_limit_ticks``."""
    cfg = GRID.initial_state(
        players=specs(2), settings={"tick_hz": 30, "score_limit": 5, "time_limit_ticks": 900}, seed=1
    ).config
    assert (cfg.tick_hz, cfg.score_limit, cfg.end_tick) == (30, 5, 900)
    assert (cfg.pause_ticks, cfg.ready_ticks, cfg.cells_per_s) == (45, 30, 10)
    default = make_config({})
    assert (default.score_limit, default.end_tick) == (3, 20 * 120)


def test_a_seed_must_be_an_int() -> None:
    with pytest.raises(ValueError, match="seed"):
        GRID.initial_state(players=specs(2), settings={}, seed="1")  # type: ignore[arg-type]
