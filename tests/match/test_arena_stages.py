"""Table-driven tests of the arena's stages, driven through ``ARENA.step``.

Each test builds a tiny hand-placed situation so a failure points at one
rule (movement, firing, shots, damage, respawn, end, ranking, decoding).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pytest

from match.games import GAMES, UnknownGame, get_game
from match.games.arena import ARENA, ArenaInput, ArenaState
from match.games.arena import constants as c
from match.games.arena.stages import STAGES, circle_blocked
from match.games.arena.state import Shot, make_config
from match.rules import GameOver, InvalidInput, PlayerSpec

OPEN_X, OPEN_Y = 800, 300
"""A spot with no obstacle or wall within one tick of movement."""
PARK = ((1500, 800), (100, 800), (1500, 100), (100, 100))
"""Corners to park bystanders, far from every test's action."""


def specs(n: int) -> list[PlayerSpec]:
    return [{"seat": i, "name": f"p{i}"} for i in range(n)]


def make(n: int = 2, **settings: int) -> ArenaState:
    """A state at tick 0 with bystanders parked in corners, idle and not firing."""
    state: ArenaState = ARENA.initial_state(players=specs(n), settings=settings, seed=1)
    for p, (x, y) in zip(state.players, PARK * 2, strict=False):
        p.x, p.y = x, y
    return state


def place(state: ArenaState, seat: int, x: int, y: int, aim: int = 0) -> None:
    p = state.players[seat]
    p.x, p.y, p.aim = x, y, aim


def inp(seq: int, mx: int = 0, my: int = 0, aim: int = 0, fire: bool = False) -> ArenaInput:
    fields = {"t": "input", "seq": seq, "mx": mx, "my": my, "aim": aim, "fire": fire}
    decoded: ArenaInput = ARENA.decode_input(fields)
    return decoded


def run(
    state: ArenaState, ticks: int, inputs: Mapping[int, ArenaInput] | None = None
) -> tuple[ArenaState, list[list[object]]]:
    """Step ``ticks`` times, giving ``inputs`` on the first tick only (controls persist)."""
    events: list[list[object]] = []
    for i in range(ticks):
        state, ev = ARENA.step(state, inputs if i == 0 and inputs else {})
        events.extend(ev)
    return state, events


def kinds(events: list[list[object]], kind: str) -> list[list[object]]:
    return [e for e in events if e[0] == kind]


def test_stages_run_in_the_documented_order() -> None:
    names = [name for name, _ in STAGES]
    assert names == ["controls", "respawn", "move", "fire", "shots", "knockouts", "end"]


@pytest.mark.parametrize(
    ("hz", "move", "diag", "shot", "cooldown", "life"),
    [
        (20, 12, 8, 36, 5, 30),
        (10, 24, 17, 72, 3, 15),
        (60, 4, 3, 12, 15, 90),
    ],
)
def test_per_tick_speeds_derive_from_tick_hz(
    hz: int, move: int, diag: int, shot: int, cooldown: int, life: int
) -> None:
    cfg = make_config({"tick_hz": hz})
    got = (cfg.move_speed, cfg.diag_speed, cfg.shot_speed, cfg.fire_cooldown, cfg.shot_life)
    assert got == (move, diag, shot, cooldown, life)


# --- movement -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mx", "my", "dx", "dy"),
    [
        (1, 0, 12, 0),
        (-1, 0, -12, 0),
        (0, 1, 0, 12),
        (0, -1, 0, -12),
        (1, 1, 8, 8),
        (1, -1, 8, -8),
        (-1, 1, -8, 8),
        (-1, -1, -8, -8),
        (0, 0, 0, 0),
    ],
)
def test_player_moves_one_tick_in_each_direction_with_normalised_diagonals(
    mx: int, my: int, dx: int, dy: int
) -> None:
    state = make()
    place(state, 0, OPEN_X, OPEN_Y)
    new, _ = run(state, 1, {0: inp(1, mx, my)})
    assert (new.players[0].x, new.players[0].y) == (OPEN_X + dx, OPEN_Y + dy)


@pytest.mark.parametrize(
    ("start", "mx", "my", "end"),
    [
        ((25, 450), -1, 0, (20, 450)),
        ((1575, 450), 1, 0, (1580, 450)),
        ((800, 25), 0, -1, (800, 20)),
        ((800, 875), 0, 1, (800, 880)),
        ((22, 22), -1, -1, (20, 20)),
        ((20, 450), -1, 0, (20, 450)),
    ],
)
def test_movement_stops_flush_at_the_arena_bounds(
    start: tuple[int, int], mx: int, my: int, end: tuple[int, int]
) -> None:
    state = make()
    place(state, 0, *start)
    new, _ = run(state, 1, {0: inp(1, mx, my)})
    assert (new.players[0].x, new.players[0].y) == end


@pytest.mark.parametrize(
    ("start", "mx", "my", "end"),
    [
        ((715, 450), 1, 0, (720, 450)),
        ((885, 450), -1, 0, (880, 450)),
        ((800, 365), 0, 1, (800, 370)),
        ((800, 535), 0, -1, (800, 530)),
        ((715, 450), 1, 1, (720, 458)),
    ],
    ids=["from-left", "from-right", "from-above", "from-below", "diagonal-slides"],
)
def test_movement_is_blocked_by_an_obstacle(
    start: tuple[int, int], mx: int, my: int, end: tuple[int, int]
) -> None:
    state = make()
    place(state, 0, *start)
    new, _ = run(state, 1, {0: inp(1, mx, my)})
    assert (new.players[0].x, new.players[0].y) == end
    assert not circle_blocked(*end)


def test_controls_persist_when_no_new_input_arrives() -> None:
    state = make()
    place(state, 0, OPEN_X, OPEN_Y)
    new, _ = run(state, 4, {0: inp(1, mx=1)})
    assert new.players[0].x == OPEN_X + 4 * 12


def test_dead_players_do_not_move() -> None:
    state = make()
    place(state, 0, OPEN_X, OPEN_Y)
    state.players[0].alive = False
    state.players[0].hp = 0
    state.players[0].respawn_tick = 100
    new, _ = run(state, 3, {0: inp(1, mx=1, my=1)})
    assert (new.players[0].x, new.players[0].y) == (OPEN_X, OPEN_Y)


# --- input seq, acks and decoding -----------------------------------------------------------


@pytest.mark.parametrize(
    ("seqs", "acks", "mx"),
    [
        ([1], 1, 1),
        ([5, 3], 5, 1),
        ([5, 5], 5, 1),
        ([5, 6], 6, -1),
        ([2, 1, 7], 7, 1),
    ],
)
def test_stale_or_duplicate_seqs_are_ignored_and_acks_report_the_last_applied(
    seqs: list[int], acks: int, mx: int
) -> None:
    state = make()
    place(state, 0, OPEN_X, OPEN_Y)
    assert ARENA.acks(state) == [0, 0]
    for i, seq in enumerate(seqs):
        state, _ = ARENA.step(state, {0: inp(seq, mx=1 if i % 2 == 0 else -1)})
    assert ARENA.acks(state) == [acks, 0]
    assert state.players[0].mx == mx


def test_input_for_an_unknown_seat_is_rejected() -> None:
    with pytest.raises(ValueError, match="seat 5"):
        ARENA.step(make(), {5: inp(1)})


VALID = {"t": "input", "seq": 1, "mx": 0, "my": 0, "aim": 0, "fire": False}


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"seq": 2**31 - 1, "mx": -1, "my": 1, "aim": 4095, "fire": True},
        {"mx": 1, "my": -1, "aim": 1024},
        {"t": "whatever"},
    ],
)
def test_decode_input_accepts_valid_inputs(changes: dict[str, object]) -> None:
    fields = {**VALID, **changes}
    got = ARENA.decode_input(fields)
    assert (got.seq, got.mx, got.my, got.aim, got.fire) == tuple(
        fields[k] for k in ("seq", "mx", "my", "aim", "fire")
    )


def test_decode_input_does_not_require_the_type_key() -> None:
    fields = {k: v for k, v in VALID.items() if k != "t"}
    assert ARENA.decode_input(fields).seq == 1


@pytest.mark.parametrize(
    ("changes", "bad"),
    [
        ({"seq": None}, "None"),
        ({"seq": 0}, "0"),
        ({"seq": -3}, "-3"),
        ({"seq": 2**31}, str(2**31)),
        ({"seq": True}, "True"),
        ({"seq": 1.0}, "1.0"),
        ({"mx": 2}, "2"),
        ({"mx": True}, "True"),
        ({"my": -2}, "-2"),
        ({"my": "1"}, "'1'"),
        ({"aim": 4096}, "4096"),
        ({"aim": -1}, "-1"),
        ({"aim": 12.5}, "12.5"),
        ({"fire": 1}, "1"),
        ({"fire": "yes"}, "'yes'"),
        ({"fire": None}, "None"),
        ({"extra": 1}, "'extra'"),
    ],
)
def test_decode_input_rejects_bad_values_quoting_them(changes: dict[str, object], bad: str) -> None:
    with pytest.raises(InvalidInput) as err:
        ARENA.decode_input({**VALID, **changes})
    assert bad in str(err.value)


@pytest.mark.parametrize("missing", ["seq", "mx", "my", "aim", "fire"])
def test_decode_input_rejects_a_missing_key(missing: str) -> None:
    fields = {k: v for k, v in VALID.items() if k != missing}
    with pytest.raises(InvalidInput, match=repr(missing)):
        ARENA.decode_input(fields)


def test_invalid_input_is_a_value_error() -> None:
    assert issubclass(InvalidInput, ValueError)


# --- initial state and settings -------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 9, 12])
def test_initial_state_rejects_player_counts_outside_two_to_eight(n: int) -> None:
    with pytest.raises(ValueError, match=repr(n)):
        ARENA.initial_state(players=specs(n), settings={}, seed=1)


@pytest.mark.parametrize(
    "seats",
    [[0, 0], [1, 2], [0, 2, 3], [-1, 0]],
)
def test_initial_state_rejects_bad_seats(seats: list[int]) -> None:
    players: list[PlayerSpec] = [{"seat": s, "name": "x"} for s in seats]
    with pytest.raises(ValueError, match="seats"):
        ARENA.initial_state(players=players, settings={}, seed=1)


@pytest.mark.parametrize(
    ("settings", "bad"),
    [
        ({"tick_hz": 0}, "0"),
        ({"tick_hz": True}, "True"),
        ({"score_limit": 0}, "0"),
        ({"time_limit_ticks": -5}, "-5"),
        ({"respawn_ticks": 0}, "0"),
        ({"respawns": 3}, "'respawns'"),
    ],
)
def test_initial_state_rejects_bad_settings(settings: dict[str, int], bad: str) -> None:
    with pytest.raises(ValueError, match=re.escape(bad)):
        ARENA.initial_state(players=specs(2), settings=settings, seed=1)


@pytest.mark.parametrize("n", range(2, 9))
def test_initial_spawns_are_distinct_spawn_points_clear_of_obstacles(n: int) -> None:
    state = ARENA.initial_state(players=specs(n), settings={}, seed=n)
    spots = [(p.x, p.y) for p in state.players]
    assert len(set(spots)) == n
    assert all(s in c.SPAWN_POINTS and not circle_blocked(*s) for s in spots)
    assert [p.hp for p in state.players] == [c.MAX_HP] * n


def test_settings_defaults_follow_tick_hz() -> None:
    state = ARENA.initial_state(players=specs(2), settings={"tick_hz": 10}, seed=1)
    snap = ARENA.snapshot(state)
    assert (snap["hz"], snap["end_tick"], snap["score_limit"]) == (10, 1200, 10)
    assert state.config.respawn_ticks == 30


# --- firing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("ticks", "shots_fired"), [(1, 1), (5, 1), (6, 2), (11, 3), (20, 4)])
def test_holding_fire_respects_the_cooldown(ticks: int, shots_fired: int) -> None:
    state = make()
    place(state, 0, OPEN_X, OPEN_Y, aim=3072)
    _, events = run(state, ticks, {0: inp(1, aim=3072, fire=True)})
    assert len(kinds(events, "fire")) == shots_fired


def test_dead_players_do_not_fire() -> None:
    state = make()
    place(state, 0, OPEN_X, OPEN_Y)
    state.players[0].alive = False
    state.players[0].respawn_tick = 100
    _, events = run(state, 10, {0: inp(1, fire=True)})
    assert kinds(events, "fire") == []


@pytest.mark.parametrize(
    ("aim", "shot"),
    [
        (0, [820, 300, 36, 0]),
        (1024, [800, 320, 0, 36]),
        (2048, [780, 300, -36, 0]),
        (3072, [800, 280, 0, -36]),
        (512, [814, 314, 25, 25]),
    ],
)
def test_a_shot_leaves_the_muzzle_along_the_aim_with_y_pointing_down(aim: int, shot: list[int]) -> None:
    state = make()
    place(state, 0, OPEN_X, OPEN_Y)
    new, events = run(state, 1, {0: inp(1, aim=aim, fire=True)})
    assert events == [["fire", 0, 1]]
    assert ARENA.snapshot(new)["shots"] == [[1, 0, *shot, 1]]


# --- shots ----------------------------------------------------------------------------------


def with_shot(state: ArenaState, x: int, y: int, vx: int, vy: int = 0, owner: int = 0) -> None:
    """Put shot id 1 at (x, y) at the current tick so the next step sweeps one velocity."""
    state.shots = [Shot(id=1, owner=owner, x0=x, y0=y, vx=vx, vy=vy, t0=state.tick)]
    state.next_shot_id = 2


@pytest.mark.parametrize(
    ("ticks", "alive"),
    [(1, True), (29, True), (30, True), (31, False)],
)
def test_a_shot_expires_after_its_lifetime(ticks: int, alive: bool) -> None:
    state = make()
    with_shot(state, 600, 300, 1)
    new, _ = run(state, ticks)
    assert bool(new.shots) is alive


@pytest.mark.parametrize(
    ("x", "y", "vx", "vy", "alive"),
    [
        (1590, 100, 36, 0, False),
        (10, 100, -36, 0, False),
        (800, 880, 0, 36, False),
        (800, 20, 0, -36, False),
        (1560, 100, 36, 0, True),
    ],
)
def test_a_shot_disappears_when_it_leaves_the_arena(x: int, y: int, vx: int, vy: int, alive: bool) -> None:
    state = make()
    with_shot(state, x, y, vx, vy)
    new, _ = run(state, 1)
    assert bool(new.shots) is alive


@pytest.mark.parametrize(
    ("x", "y", "vx", "vy", "alive"),
    [
        (700, 450, 36, 0, False),
        (699, 450, 36, 0, True),
        (730, 450, 200, 0, False),
        (800, 350, 0, 36, False),
        (600, 450, -36, 0, True),
    ],
    ids=["touches", "stops-short", "fast-shot-does-not-tunnel", "from-above", "moving-away"],
)
def test_a_shot_disappears_when_it_enters_an_obstacle(x: int, y: int, vx: int, vy: int, alive: bool) -> None:
    state = make()
    with_shot(state, x, y, vx, vy)
    new, _ = run(state, 1)
    assert bool(new.shots) is alive


def test_a_shot_fired_into_an_adjacent_wall_vanishes_at_once() -> None:
    state = make()
    place(state, 0, 720, 450)
    new, events = run(state, 1, {0: inp(1, aim=0, fire=True)})
    assert kinds(events, "fire") == [["fire", 0, 1]]
    assert new.shots == []


@pytest.mark.parametrize(
    ("enemy", "shot", "vx", "hit"),
    [
        ((900, 300), (850, 300), 36, True),
        ((900, 300), (850, 300), 400, True),
        ((900, 323), (850, 300), 100, True),
        ((900, 325), (850, 300), 100, False),
        ((900, 300), (950, 300), 36, False),
        ((700, 450), (620, 450), 150, True),
        ((900, 450), (700, 450), 250, False),
    ],
    ids=[
        "direct",
        "fast-shot-does-not-tunnel",
        "grazing",
        "just-missing",
        "moving-away",
        "enemy-before-wall",
        "wall-before-enemy",
    ],
)
def test_a_shot_hits_an_enemy_on_its_path_before_any_wall(
    enemy: tuple[int, int], shot: tuple[int, int], vx: int, hit: bool
) -> None:
    state = make()
    place(state, 1, *enemy)
    with_shot(state, *shot, vx)
    new, events = run(state, 1)
    assert kinds(events, "hit") == ([["hit", 1, 0, 25]] if hit else [])
    assert new.players[1].hp == (75 if hit else 100)
    assert (new.shots == []) is (hit or shot[1] == 450)


def test_a_shot_never_hits_its_owner() -> None:
    state = make()
    place(state, 0, 900, 300)
    with_shot(state, 850, 300, 36, owner=0)
    new, events = run(state, 3)
    assert kinds(events, "hit") == []
    assert new.players[0].hp == 100
    assert len(new.shots) == 1


def test_a_shot_passes_through_a_knocked_out_player() -> None:
    state = make()
    place(state, 1, 900, 300)
    state.players[1].alive = False
    state.players[1].hp = 0
    state.players[1].respawn_tick = 100
    with_shot(state, 850, 300, 36)
    new, events = run(state, 1)
    assert kinds(events, "hit") == []
    assert len(new.shots) == 1


def test_the_nearest_enemy_on_the_path_takes_the_hit() -> None:
    state = make(3)
    place(state, 1, 1000, 300)
    place(state, 2, 900, 300)
    with_shot(state, 850, 300, 300)
    _, events = run(state, 1)
    assert kinds(events, "hit") == [["hit", 2, 0, 25]]


# --- damage, knockouts, respawn -------------------------------------------------------------


@pytest.mark.parametrize(
    ("hp", "hp_after", "ko"),
    [(100, 75, False), (50, 25, False), (26, 1, False), (25, 0, True), (10, 0, True)],
)
def test_a_hit_deals_damage_and_zero_hp_is_a_knockout_credited_to_the_shooter(
    hp: int, hp_after: int, ko: bool
) -> None:
    state = make()
    place(state, 1, 900, 300)
    state.players[1].hp = hp
    with_shot(state, 850, 300, 36)
    new, events = run(state, 1)
    victim, shooter = new.players[1], new.players[0]
    assert victim.hp == hp_after
    assert victim.alive is not ko
    assert (victim.deaths, shooter.kills, shooter.score) == ((1, 1, 1) if ko else (0, 0, 0))
    assert kinds(events, "ko") == ([["ko", 1, 0]] if ko else [])
    snap_player = ARENA.snapshot(new)["players"]
    assert isinstance(snap_player, list)
    assert snap_player[1]["al"] is not ko


def test_a_knocked_out_player_absorbs_no_second_shot_in_the_same_tick() -> None:
    state = make(3)
    place(state, 1, 900, 300)
    state.players[1].hp = 25
    state.shots = [
        Shot(id=1, owner=0, x0=850, y0=300, vx=36, vy=0, t0=0),
        Shot(id=2, owner=2, x0=860, y0=300, vx=36, vy=0, t0=0),
    ]
    state.next_shot_id = 3
    new, events = run(state, 1)
    assert kinds(events, "hit") == [["hit", 1, 0, 25]]
    assert kinds(events, "ko") == [["ko", 1, 0]]
    assert [s.id for s in new.shots] == [2]
    assert (new.players[0].score, new.players[2].score) == (1, 0)


@pytest.mark.parametrize("respawn_ticks", [1, 5, 60])
def test_a_knocked_out_player_respawns_after_the_delay_at_full_hp(respawn_ticks: int) -> None:
    state = make(respawn_ticks=respawn_ticks)
    place(state, 1, 900, 300)
    state.players[1].hp = 25
    with_shot(state, 850, 300, 36)
    state, events = run(state, 1)
    assert kinds(events, "ko") == [["ko", 1, 0]]
    ko_tick = state.tick
    state, events = run(state, respawn_ticks - 1)
    assert not state.players[1].alive
    assert kinds(events, "respawn") == []
    state, events = run(state, 1)
    victim = state.players[1]
    assert state.tick == ko_tick + respawn_ticks
    assert kinds(events, "respawn") == [["respawn", 1]]
    assert (victim.alive, victim.hp) == (True, c.MAX_HP)
    assert (victim.x, victim.y) in c.SPAWN_POINTS


# --- end of match and result ----------------------------------------------------------------


def knock_out_seat_1(state: ArenaState) -> None:
    place(state, 1, 900, 300)
    state.players[1].hp = 25
    with_shot(state, 850, 300, 36)


def test_the_match_ends_by_score_and_step_then_raises_game_over() -> None:
    state = make(score_limit=1)
    knock_out_seat_1(state)
    new, events = run(state, 1)
    assert events[-1] == ["end", "score"]
    assert ARENA.is_over(new)
    with pytest.raises(GameOver):
        ARENA.step(new, {})


@pytest.mark.parametrize(("ticks", "over"), [(2, False), (3, True)])
def test_the_match_ends_by_time_at_the_end_tick(ticks: int, over: bool) -> None:
    state, events = run(make(time_limit_ticks=3), ticks)
    assert ARENA.is_over(state) is over
    assert kinds(events, "end") == ([["end", "time"]] if over else [])


def test_reaching_the_score_limit_on_the_last_tick_ends_by_score() -> None:
    state = make(score_limit=1, time_limit_ticks=1)
    knock_out_seat_1(state)
    new, events = run(state, 1)
    assert kinds(events, "end") == [["end", "score"]]
    assert ARENA.result(new)["reason"] == "score"


def test_result_of_a_running_match_is_refused() -> None:
    with pytest.raises(ValueError, match="not over"):
        ARENA.result(make())


@pytest.mark.parametrize(
    ("stats", "order", "ranks"),
    [
        ([(3, 0), (1, 2)], [0, 1], [1, 2]),
        ([(2, 1), (2, 1), (1, 0)], [0, 1, 2], [1, 1, 3]),
        ([(2, 3), (2, 1), (5, 9)], [2, 1, 0], [1, 2, 3]),
        ([(0, 0)] * 4, [0, 1, 2, 3], [1, 1, 1, 1]),
        ([(1, 1), (3, 0), (1, 1), (1, 0)], [1, 3, 0, 2], [1, 2, 3, 3]),
    ],
    ids=["plain", "tie-on-top", "deaths-break-ties", "all-tied", "tie-at-bottom"],
)
def test_result_ranks_by_score_then_deaths_with_shared_ranks_for_ties(
    stats: list[tuple[int, int]], order: list[int], ranks: list[int]
) -> None:
    state = make(len(stats), time_limit_ticks=1)
    for p, (score, deaths) in zip(state.players, stats, strict=True):
        p.score, p.kills, p.deaths = score, score, deaths
    state, _ = run(state, 1)
    result = ARENA.result(state)
    assert result["reason"] == "time"
    assert result["tick"] == 1
    ranking = result["ranking"]
    assert isinstance(ranking, list)
    assert [r["s"] for r in ranking] == order
    assert [r["rank"] for r in ranking] == ranks
    assert ranking[0] == {
        "s": order[0],
        "n": f"p{order[0]}",
        "sc": stats[order[0]][0],
        "k": stats[order[0]][0],
        "d": stats[order[0]][1],
        "rank": 1,
    }


# --- registry -------------------------------------------------------------------------------


def test_the_registry_serves_the_arena() -> None:
    assert get_game("arena") is ARENA
    assert GAMES["arena"] is ARENA
    assert next(iter(GAMES)) == "arena"  # the first registered: the default game
    assert (ARENA.name, ARENA.min_players, ARENA.max_players) == ("arena", 2, 8)


def test_an_unknown_game_name_raises_unknown_game_quoting_it() -> None:
    with pytest.raises(UnknownGame, match="'chess'"):
        get_game("chess")
    assert issubclass(UnknownGame, KeyError)
