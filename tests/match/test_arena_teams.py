"""Team matches (2v2 from the matchmaker) in the arena, and that free-for-all is untouched.

Hand-placed situations (table-driven, as in ``test_arena_stages``) pin the
team rules; a seeded bot match proves determinism and complete deltas.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import cast

import msgpack
import pytest

from match.games.arena import ARENA, ArenaInput, ArenaState
from match.games.arena import constants as c
from match.games.arena.state import Shot
from match.rules import PlayerSpec

TWO_V_TWO = (0, 0, 1, 1)
"""Seats 0 and 1 against seats 2 and 3."""
PARK = ((1500, 800), (100, 800), (1500, 100), (100, 100))
"""Corners to park bystanders, far from every test's action."""

Events = list[list[object]]


def specs(teams: Sequence[int | None]) -> list[PlayerSpec]:
    """One spec per seat; ``None`` leaves the ``team`` key out."""
    out: list[PlayerSpec] = []
    for seat, team in enumerate(teams):
        spec: PlayerSpec = {"seat": seat, "name": f"p{seat}"}
        if team is not None:
            spec["team"] = team
        out.append(spec)
    return out


def make(teams: Sequence[int | None] = TWO_V_TWO, **settings: int) -> ArenaState:
    """A state at tick 0 with everyone parked in corners, idle and not firing."""
    state: ArenaState = ARENA.initial_state(players=specs(teams), settings=settings, seed=1)
    for p, (x, y) in zip(state.players, PARK * 2, strict=False):
        p.x, p.y = x, y
    return state


def run(state: ArenaState, ticks: int) -> tuple[ArenaState, Events]:
    events: Events = []
    for _ in range(ticks):
        state, ev = ARENA.step(state, {})
        events.extend(ev)
    return state, events


def kinds(events: Events, kind: str) -> Events:
    return [e for e in events if e[0] == kind]


def with_shot(state: ArenaState, x: int, y: int, vx: int, owner: int = 0) -> None:
    """Put shot id 1 at (x, y) at the current tick so the next step sweeps one velocity."""
    state.shots = [Shot(id=1, owner=owner, x0=x, y0=y, vx=vx, vy=0, t0=state.tick)]
    state.next_shot_id = 2


def snapshot_players(state: ArenaState) -> list[dict[str, object]]:
    return cast(list[dict[str, object]], ARENA.snapshot(state)["players"])


# --- shots and teammates --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("teams", "owner", "placed", "shot", "vx", "hits", "kept"),
    [
        (TWO_V_TWO, 0, {1: (900, 300)}, (850, 300), 36, [], True),
        (TWO_V_TWO, 0, {2: (900, 300)}, (850, 300), 36, [["hit", 2, 0, 25]], False),
        (TWO_V_TWO, 0, {1: (900, 300), 2: (1000, 300)}, (850, 300), 300, [["hit", 2, 0, 25]], False),
        (TWO_V_TWO, 0, {1: (700, 450)}, (620, 450), 150, [], False),
        (TWO_V_TWO, 3, {2: (900, 300)}, (850, 300), 36, [], True),
        (TWO_V_TWO, 3, {0: (900, 300)}, (850, 300), 36, [["hit", 0, 3, 25]], False),
        ((0, 1, 0, 1), 0, {2: (900, 300), 3: (1000, 300)}, (850, 300), 300, [["hit", 3, 0, 25]], False),
        ((None, None, None, None), 0, {1: (900, 300)}, (850, 300), 36, [["hit", 1, 0, 25]], False),
        ((-1, -1, -1, -1), 0, {1: (900, 300)}, (850, 300), 36, [["hit", 1, 0, 25]], False),
    ],
    ids=[
        "teammate-is-passed",
        "enemy-is-hit",
        "passes-teammate-hits-enemy-behind",
        "passes-teammate-stops-at-wall",
        "team-1-passes-teammate",
        "team-1-hits-enemy",
        "other-seating",
        "ffa-without-team-key-hits",
        "ffa-with-team-minus-one-hits",
    ],
)
def test_shots_pass_through_teammates_and_hit_enemies(
    teams: tuple[int | None, ...],
    owner: int,
    placed: dict[int, tuple[int, int]],
    shot: tuple[int, int],
    vx: int,
    hits: Events,
    kept: bool,
) -> None:
    state = make(teams)
    for seat, (x, y) in placed.items():
        state.players[seat].x, state.players[seat].y = x, y
    with_shot(state, *shot, vx, owner=owner)
    new, events = run(state, 1)
    assert kinds(events, "hit") == hits
    assert bool(new.shots) is kept
    victims = {h[1] for h in hits}
    assert [p.hp for p in new.players] == [75 if p.seat in victims else c.MAX_HP for p in new.players]


def test_a_teammate_is_never_damaged_even_by_a_stream_of_shots() -> None:
    state = make()
    state.players[0].x, state.players[0].y = 800, 300
    state.players[1].x, state.players[1].y = 900, 300
    fire = ARENA.decode_input({"seq": 1, "mx": 0, "my": 0, "aim": 0, "fire": True})
    state, events = ARENA.step(state, {0: fire})
    state, more = run(state, 40)
    events += more
    assert len(kinds(events, "fire")) >= 8
    assert kinds(events, "hit") == []
    assert state.players[1].hp == c.MAX_HP


# --- score limit ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("teams", "scores", "shooter", "victim", "over"),
    [
        (TWO_V_TWO, (1, 1, 0, 0), 0, 2, True),
        (TWO_V_TWO, (0, 2, 0, 0), 0, 3, True),
        (TWO_V_TWO, (0, 1, 0, 0), 0, 2, False),
        (TWO_V_TWO, (0, 0, 2, 0), 0, 2, False),
        (TWO_V_TWO, (2, 0, 0, 0), 3, 1, False),
        (TWO_V_TWO, (0, 0, 1, 1), 3, 0, True),
        ((None, None, None, None), (1, 1, 0, 0), 0, 2, False),
        ((None, None, None, None), (2, 1, 0, 0), 0, 2, True),
    ],
    ids=[
        "team-sum-reaches-limit",
        "teammate-carries-the-team",
        "team-sum-below-limit",
        "other-team-not-summed-with-shooter",
        "team-1-kill-below-limit",
        "team-1-reaches-limit",
        "ffa-does-not-sum",
        "ffa-individual-limit",
    ],
)
def test_the_score_limit_applies_to_the_team_score(
    teams: tuple[int | None, ...], scores: tuple[int, ...], shooter: int, victim: int, over: bool
) -> None:
    state = make(teams, score_limit=3)
    for p, score in zip(state.players, scores, strict=True):
        p.score = p.kills = score
    state.players[victim].x, state.players[victim].y = 900, 300
    state.players[victim].hp = 25
    with_shot(state, 850, 300, 36, owner=shooter)
    new, events = run(state, 1)
    assert kinds(events, "ko") == [["ko", victim, shooter]]
    assert new.players[shooter].score == scores[shooter] + 1
    assert ARENA.is_over(new) is over
    assert kinds(events, "end") == ([["end", "score"]] if over else [])
    if over:
        assert ARENA.result(new)["reason"] == "score"


def test_a_team_match_still_ends_on_time() -> None:
    state, events = run(make(time_limit_ticks=3), 3)
    assert events[-1] == ["end", "time"]
    assert ARENA.result(state)["teams"] == [{"tm": 0, "sc": 0, "rank": 1}, {"tm": 1, "sc": 0, "rank": 1}]


# --- result ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("teams", "stats", "standings"),
    [
        (TWO_V_TWO, [(3, 0), (1, 2), (1, 1), (0, 0)], [(0, 4, 1), (1, 1, 2)]),
        (TWO_V_TWO, [(0, 0), (1, 0), (3, 1), (0, 0)], [(1, 3, 1), (0, 1, 2)]),
        (TWO_V_TWO, [(2, 1), (0, 0), (1, 0), (1, 0)], [(1, 2, 1), (0, 2, 2)]),
        (TWO_V_TWO, [(2, 1), (0, 0), (1, 1), (1, 0)], [(0, 2, 1), (1, 2, 1)]),
        (TWO_V_TWO, [(0, 0)] * 4, [(0, 0, 1), (1, 0, 1)]),
        ((1, 0, 0, 0), [(5, 0), (1, 0), (1, 0), (1, 0)], [(1, 5, 1), (0, 3, 2)]),
        ((0, 1), [(0, 3), (2, 0)], [(1, 2, 1), (0, 0, 2)]),
    ],
    ids=["plain", "team-1-wins", "deaths-break-ties", "tie-shares-rank", "all-zero", "one-vs-three", "1v1"],
)
def test_result_ranks_teams_by_score_then_deaths_with_shared_ranks(
    teams: tuple[int, ...], stats: list[tuple[int, int]], standings: list[tuple[int, int, int]]
) -> None:
    state = make(teams, time_limit_ticks=1)
    for p, (score, deaths) in zip(state.players, stats, strict=True):
        p.score, p.kills, p.deaths = score, score, deaths
    state, _ = run(state, 1)
    result = ARENA.result(state)
    assert list(result) == ["reason", "tick", "ranking", "teams"]
    assert result["teams"] == [{"tm": t, "sc": sc, "rank": r} for t, sc, r in standings]
    ranking = cast(list[dict[str, object]], result["ranking"])
    expected_order = sorted(range(len(stats)), key=lambda s: (-stats[s][0], stats[s][1], s))
    assert [r["s"] for r in ranking] == expected_order
    for entry in ranking:
        seat = cast(int, entry["s"])
        assert list(entry) == ["s", "n", "sc", "k", "d", "rank", "tm"]
        assert entry["tm"] == teams[seat]
        assert (entry["sc"], entry["d"]) == stats[seat]


def test_player_ranking_in_a_team_match_shares_ranks_as_in_free_for_all() -> None:
    state = make(time_limit_ticks=1)
    for p, (score, deaths) in zip(state.players, [(1, 1), (3, 0), (1, 1), (1, 0)], strict=True):
        p.score, p.kills, p.deaths = score, score, deaths
    state, _ = run(state, 1)
    ranking = cast(list[dict[str, object]], ARENA.result(state)["ranking"])
    assert [(r["s"], r["rank"]) for r in ranking] == [(1, 1), (3, 2), (0, 3), (2, 3)]


@pytest.mark.parametrize("teams", [(None, None, None), (-1, -1, -1), (None, -1, None)])
def test_free_for_all_results_have_no_team_keys(teams: tuple[int | None, ...]) -> None:
    state = make(teams, time_limit_ticks=1)
    state.players[0].score = state.players[0].kills = 2
    state, _ = run(state, 1)
    result = ARENA.result(state)
    assert result == {
        "reason": "time",
        "tick": 1,
        "ranking": [
            {"s": 0, "n": "p0", "sc": 2, "k": 2, "d": 0, "rank": 1},
            {"s": 1, "n": "p1", "sc": 0, "k": 0, "d": 0, "rank": 2},
            {"s": 2, "n": "p2", "sc": 0, "k": 0, "d": 0, "rank": 2},
        ],
    }


# --- wire -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("teams", "wire_teams"),
    [
        (TWO_V_TWO, [0, 0, 1, 1]),
        ((1, 0, 1), [1, 0, 1]),
        ((None, None), [None, None]),
        ((-1, -1, -1), [None, None, None]),
    ],
)
def test_snapshot_player_maps_carry_tm_only_in_team_matches(
    teams: tuple[int | None, ...], wire_teams: list[int | None]
) -> None:
    players = snapshot_players(ARENA.initial_state(players=specs(teams), settings={}, seed=3))
    assert [p.get("tm") for p in players] == wire_teams
    base = ["s", "n", "x", "y", "a", "hp", "sc", "k", "d", "al"]
    for p, t in zip(players, wire_teams, strict=True):
        assert list(p) == (base if t is None else [*base, "tm"])


def test_team_minus_one_everywhere_is_exactly_free_for_all() -> None:
    a = ARENA.initial_state(players=specs([None] * 4), settings={}, seed=9)
    b = ARENA.initial_state(players=specs([-1] * 4), settings={}, seed=9)
    assert ARENA.state_hash(a) == ARENA.state_hash(b)
    assert msgpack.packb(ARENA.snapshot(a)) == msgpack.packb(ARENA.snapshot(b))


@pytest.mark.parametrize("change", ["swap-teams-of-0-and-2", "drop-teams"])
def test_state_hash_covers_team(change: str) -> None:
    state = make()
    before = ARENA.state_hash(state)
    other = state.copy()
    if change == "drop-teams":
        for p in other.players:
            p.team = c.NO_TEAM
    else:
        other.players[0].team, other.players[2].team = 1, 0
    assert ARENA.state_hash(other) != before
    assert ARENA.state_hash(state) == before


# --- spawns ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "teams",
    [TWO_V_TWO, (0, 1), (1, 0, 1, 0), (0, 0, 0, 1, 1, 1), (0, 1) * 4, (0, 0, 0, 0, 1, 1, 1, 1)],
)
@pytest.mark.parametrize("seed", range(6))
def test_initial_spawns_are_distinct_and_in_the_home_half(teams: tuple[int, ...], seed: int) -> None:
    state = ARENA.initial_state(players=specs(teams), settings={}, seed=seed)
    spots = [(p.x, p.y) for p in state.players]
    assert len(set(spots)) == len(spots)
    for p in state.players:
        assert (p.x, p.y) in c.HOME_SPAWNS[p.team]
        assert p.aim == (0 if p.team == 0 else c.AIM_STEPS // 2)


@pytest.mark.parametrize(("teams", "overflow"), [((0, 0, 0, 0, 0, 1), 4), ((1, 1, 1, 1, 1, 0), 4)])
def test_a_fifth_team_member_spawns_off_the_full_home_half(teams: tuple[int, ...], overflow: int) -> None:
    state = ARENA.initial_state(players=specs(teams), settings={}, seed=5)
    big = teams[0]
    spots = [(p.x, p.y) for p in state.players if p.team == big]
    home = [s for s in spots if s in c.HOME_SPAWNS[big]]
    assert len(home) == overflow
    assert next(s for s in spots if s not in home)[0] == c.WIDTH // 2


@pytest.mark.parametrize(("victim", "shooter"), [(1, 2), (3, 0), (0, 3), (2, 1)])
@pytest.mark.parametrize("seed", range(4))
def test_a_team_player_respawns_in_the_home_half(victim: int, shooter: int, seed: int) -> None:
    state = ARENA.initial_state(players=specs(TWO_V_TWO), settings={"respawn_ticks": 1}, seed=seed)
    for p, (x, y) in zip(state.players, PARK, strict=True):
        p.x, p.y = x, y
    state.players[victim].x, state.players[victim].y = 900, 300
    state.players[victim].hp = 25
    with_shot(state, 850, 300, 36, owner=shooter)
    state, events = run(state, 2)
    assert kinds(events, "respawn") == [["respawn", victim]]
    p = state.players[victim]
    assert (p.x, p.y) in c.HOME_SPAWNS[p.team]


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("teams", "bad"),
    [
        ((0, -1), "seat(s) [1]"),
        ((0, None, 1), "seat(s) [1]"),
        ((None, 1, -1, 0), "seat(s) [0, 2]"),
        ((2, 1), "got 2"),
        ((0, -2), "got -2"),
        ((True, 0), "got True"),
        (("0", 1), "got '0'"),
        ((0, 1.0), "got 1.0"),
        ((0, 0), "team 1 has none"),
        ((1, 1, 1), "team 0 has none"),
    ],
)
def test_initial_state_rejects_bad_team_specs(teams: tuple[object, ...], bad: str) -> None:
    with pytest.raises(ValueError, match=re.escape(bad)):
        ARENA.initial_state(players=specs(cast(tuple[int | None, ...], teams)), settings={}, seed=1)


# --- whole team matches ---------------------------------------------------------------------


def aim_towards(dx: int, dy: int) -> int:
    """Integer-only aim: the best of 256 directions."""
    return max(range(0, c.AIM_STEPS, 16), key=lambda a: c.COS[a] * dx + c.SIN[a] * dy)


def bot_inputs(rnd: random.Random, state: ArenaState, seqs: list[int]) -> dict[int, ArenaInput]:
    """Chase and shoot the nearest living enemy, with noise and some stale seqs."""
    out: dict[int, ArenaInput] = {}
    for me in state.players:
        if rnd.random() < 0.4:
            continue
        enemies = [p for p in state.players if p.alive and p.team != me.team]
        aim = rnd.randrange(c.AIM_STEPS)
        mx, my = rnd.randint(-1, 1), rnd.randint(-1, 1)
        if enemies:
            tx = min(enemies, key=lambda p: (p.x - me.x) ** 2 + (p.y - me.y) ** 2)
            dx, dy = tx.x - me.x, tx.y - me.y
            aim = (aim_towards(dx, dy) + rnd.randint(-24, 24)) % c.AIM_STEPS
            if rnd.random() < 0.6:
                mx, my = (dx > 0) - (dx < 0), (dy > 0) - (dy < 0)
        if not (rnd.random() < 0.05 and seqs[me.seat] > 0):
            seqs[me.seat] += 1
        fields = {"seq": seqs[me.seat], "mx": mx, "my": my, "aim": aim, "fire": rnd.random() < 0.85}
        out[me.seat] = ARENA.decode_input(fields)
    return out


TEAM_SETTINGS = {"time_limit_ticks": 300, "score_limit": 1000, "respawn_ticks": 40}


def play(
    teams: Sequence[int], seed: int, bots_seed: int, settings: Mapping[str, int] = TEAM_SETTINGS
) -> tuple[list[ArenaState], Events]:
    rnd = random.Random(bots_seed)
    seqs = [0] * len(teams)
    state = ARENA.initial_state(players=specs(teams), settings=settings, seed=seed)
    states, events = [state], []
    while not ARENA.is_over(state):
        state, ev = ARENA.step(state, bot_inputs(rnd, state, seqs))
        states.append(state)
        events.extend(ev)
    return states, events


def test_same_seed_and_inputs_give_the_same_hashes_over_300_ticks() -> None:
    states, events = play(TWO_V_TWO, seed=42, bots_seed=7)
    again, _ = play(TWO_V_TWO, seed=42, bots_seed=7)
    hashes = [ARENA.state_hash(s) for s in states]
    assert len(hashes) == 301
    assert hashes == [ARENA.state_hash(s) for s in again]
    other_seed, _ = play(TWO_V_TWO, seed=43, bots_seed=7)
    assert ARENA.state_hash(other_seed[-1]) != hashes[-1]
    assert len(kinds(events, "ko")) >= 3


@pytest.mark.parametrize(("teams", "bots_seed"), [(TWO_V_TWO, 11), ((0, 1, 1, 0), 12), ((1, 0, 0, 1), 13)])
def test_deltas_reconstruct_the_snapshot_every_tick_in_a_team_match(
    teams: tuple[int, ...], bots_seed: int
) -> None:
    settings = {**TEAM_SETTINGS, "time_limit_ticks": 400}
    states, events = play(teams, seed=bots_seed, bots_seed=bots_seed, settings=settings)
    snap = ARENA.snapshot(states[0])
    for prev, new in pairwise(states):
        d = ARENA.delta(prev, new)
        assert all("tm" not in change for change in cast(list[dict[str, object]], d.get("p", [])))
        snap = ARENA.apply_delta(snap, d)
        assert snap == ARENA.snapshot(new)
        assert ARENA.apply_delta(ARENA.snapshot(prev), d) == snap
    counts = Counter(str(e[0]) for e in events)
    assert counts["hit"] >= 10
    assert counts["ko"] >= 2
    assert counts["respawn"] >= 1
    friendly = [e for e in kinds(events, "hit") if teams[cast(int, e[1])] == teams[cast(int, e[2])]]
    assert friendly == []
    result = ARENA.result(states[-1])
    assert msgpack.unpackb(msgpack.packb(result), raw=False) == result
    team_scores = {t: sum(p.score for p in states[-1].players if p.team == t) for t in c.TEAMS}
    standings = cast(list[dict[str, object]], result["teams"])
    assert {cast(int, t["tm"]): t["sc"] for t in standings} == team_scores


def test_a_bot_team_match_ends_by_team_score() -> None:
    states, events = play(TWO_V_TWO, seed=5, bots_seed=5, settings={"score_limit": 3, "respawn_ticks": 20})

    def scores(state: ArenaState) -> list[int]:
        return [sum(p.score for p in state.players if p.team == t) for t in c.TEAMS]

    assert events[-1] == ["end", "score"]
    assert max(scores(states[-2])) < 3 <= max(scores(states[-1]))
    assert max(p.score for p in states[-1].players) < 3, "pick seeds where no single player reached 3"
    teams = cast(list[dict[str, object]], ARENA.result(states[-1])["teams"])
    assert (teams[0]["sc"], teams[0]["rank"], teams[1]["rank"]) == (3, 1, 2)
