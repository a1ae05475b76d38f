"""The pure pairing rules, table-driven: windows, anchors, ffa waits and team balance."""

from __future__ import annotations

import pytest

from lobby.matchmaker.pairing import (
    Mode,
    PairingConfig,
    Ticket,
    balance,
    find_group,
    players_needed,
    split_teams,
    window,
)

CONFIG = PairingConfig(window_start=100, window_growth=25, window_max=400)
# The default modes' shapes (settings.GAME_MODES), with the free-for-all's wait at 20 s.
DUEL = Mode(name="duel", game="arena", players=2)
TEAM = Mode(name="team", game="arena", players=4, team_size=2, party=2)
FFA = Mode(name="ffa", game="arena", players=8, party=8, min_players=3, wait=20)


def ticket(
    tid: int, rating: int, since: float = 0.0, members: list[int] | None = None, mode: str = "duel"
) -> Ticket:
    members = members or [tid]
    return Ticket(id=tid, mode=mode, members=members, ratings=dict.fromkeys(members, rating), since=since)


@pytest.mark.parametrize(
    ("waited", "expected"), [(0, 100), (1, 125), (4, 200), (12, 400), (100, 400)], ids=lambda v: str(v)
)
def test_the_window_starts_narrow_and_widens_with_time_waited_up_to_the_cap(waited, expected):
    assert window(ticket(1, 1000), waited, CONFIG) == expected


@pytest.mark.parametrize(
    ("ratings", "now", "expected"),
    [
        ([1000, 1050], 0, [1, 2]),
        ([1000, 1150], 0, None),  # outside the starting window
        ([1000, 1150], 2, [1, 2]),  # after two seconds the window is 150
        ([1000, 1300, 1010], 0, [1, 3]),  # closest within the window
    ],
    ids=["close", "too far", "widened", "closest"],
)
def test_duels_pair_players_within_the_anchors_window(ratings, now, expected):
    queue = [ticket(i + 1, r, since=i * 0.01) for i, r in enumerate(ratings)]
    group = find_group(queue, DUEL, now, CONFIG)
    assert (None if group is None else [t.id for t in group]) == expected


def test_the_oldest_ticket_anchors_so_it_cannot_starve():
    old = ticket(1, 1000, since=0)
    newer = [ticket(2, 1300, since=9), ticket(3, 1310, since=9.5)]
    group = find_group([*newer, old], DUEL, now=10, config=CONFIG)
    assert group is not None
    assert group[0] is old


def test_free_for_all_waits_for_eight_then_starts_smaller_after_the_wait():
    queue = [ticket(i, 1000, since=0, mode="ffa") for i in range(1, 4)]
    assert find_group(queue, FFA, 19, CONFIG) is None
    group = find_group(queue, FFA, 20, CONFIG)
    assert group is not None
    assert len(group) == 3
    full = [ticket(i, 1000, since=0, mode="ffa") for i in range(1, 10)]
    group = find_group(full, FFA, 0, CONFIG)
    assert group is not None
    assert sum(t.size for t in group) == 8


def test_free_for_all_below_the_minimum_keeps_waiting():
    queue = [ticket(i, 1000, since=0, mode="ffa") for i in range(1, 3)]
    assert find_group(queue, FFA, 999, CONFIG) is None


def test_a_team_match_fills_four_seats_without_splitting_parties():
    party = ticket(1, 1000, members=[10, 11], mode="team")
    queue = [party, ticket(2, 1000, members=[20, 21], mode="team"), ticket(3, 1000, mode="team")]
    group = find_group(queue, TEAM, 0, CONFIG)
    assert group is not None
    assert sum(t.size for t in group) == 4
    teams = split_teams(group, TEAM)
    assert sorted(map(sorted, teams)) == [[10, 11], [20, 21]]


def test_teams_are_balanced_by_rating_with_parties_together():
    group = [
        Ticket(id=1, mode="team", members=[1, 2], ratings={1: 1400, 2: 600}, since=0),
        Ticket(id=2, mode="team", members=[3], ratings={3: 1300}, since=0),
        Ticket(id=3, mode="team", members=[4], ratings={4: 700}, since=0),
    ]
    teams = split_teams(group, TEAM)
    assert [1, 2] in teams
    assert sorted(teams[1 - teams.index([1, 2])]) == [3, 4]


def test_balance_splits_room_players_into_the_closest_teams():
    ratings = {1: 1500, 2: 1400, 3: 1000, 4: 900}
    teams = balance([1, 2, 3, 4], ratings)
    sums = sorted(sum(ratings[p] for p in team) for team in teams)
    assert sums == [2400, 2400]


def test_a_party_never_makes_a_free_for_all_alone():
    party = Ticket(id=1, mode="ffa", members=[1, 2, 3, 4], ratings=dict.fromkeys([1, 2, 3, 4], 1000), since=0)
    assert find_group([party], FFA, 999, CONFIG) is None
    group = find_group([party, ticket(2, 1000, mode="ffa")], FFA, 999, CONFIG)
    assert group is not None
    assert len(group) == 2


def test_a_mode_without_a_smaller_match_never_starts_short_however_long_it_waits():
    three = Mode(name="trio", game="arena", players=3)
    queue = [ticket(i, 1000, since=0, mode="trio") for i in range(1, 3)]
    assert find_group(queue, three, 10**6, CONFIG) is None
    assert players_needed(queue, three, 10**6) == 3


def test_the_players_needed_drop_to_the_minimum_once_the_oldest_ticket_has_waited():
    queue = [ticket(1, 1000, since=5, mode="ffa"), ticket(2, 1000, since=0, mode="ffa")]
    assert players_needed(queue, FFA, 19.9) == 8
    assert players_needed(queue, FFA, 20) == 3, "ticket 2 joined first: its wait counts"
    assert players_needed([], FFA, 999) == 8
    assert players_needed(queue, DUEL, 999) == 2


def test_a_mode_of_three_teams_splits_into_three_balanced_teams():
    trios = Mode(name="trios", game="arena", players=6, team_size=2, party=2)
    group = [
        Ticket(id=1, mode="trios", members=[1, 2], ratings={1: 1500, 2: 1500}, since=0),
        *(
            Ticket(id=i, mode="trios", members=[i], ratings={i: r}, since=0)
            for i, r in [(3, 2000), (4, 1000)]
        ),
        *(
            Ticket(id=i, mode="trios", members=[i], ratings={i: r}, since=0)
            for i, r in [(5, 1900), (6, 1100)]
        ),
    ]
    teams = split_teams(group, trios)
    assert len(teams) == 3
    assert [1, 2] in teams
    ratings = {m: r for t in group for m, r in t.ratings.items()}
    assert sorted(sum(ratings[m] for m in team) for team in teams) == [3000, 3000, 3000]


def test_balance_makes_any_number_of_equal_teams_and_refuses_an_uneven_split():
    ratings = {1: 1600, 2: 1500, 3: 1100, 4: 1000, 5: 1300, 6: 1300}
    teams = balance([1, 2, 3, 4, 5, 6], ratings, 3)
    assert sorted(len(t) for t in teams) == [2, 2, 2]
    assert sorted(sum(ratings[p] for p in t) for t in teams) == [2600, 2600, 2600]
    assert sorted(p for t in teams for p in t) == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="5 players cannot form 2 teams"):
        balance([1, 2, 3, 4, 5], ratings)
