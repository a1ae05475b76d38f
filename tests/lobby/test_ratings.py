"""Ratings: applied through match_finish's signal, once per finished queue match."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import User

from lobby.models import Player, Rating, RatingChange
from lobby.modes import rated_modes
from lobby.selectors.stats import ratings_for, ratings_of
from lobby.services.ratings import DEFAULT_RATING, MODEL, outcome, rating_display, ratings_apply
from match.games.arena import ARENA
from match.models import Match, MatchSeat
from match.services import match_finish

pytestmark = pytest.mark.django_db


def make_user(name: str) -> User:
    user = User.objects.create_user(username=name, password=None)
    Player.objects.create(user=user, name=name, name_key=name.lower())
    return user


def make_match(mode: str, seats: list[tuple[User | None, int]]) -> Match:
    """A waiting match with one seat per (user, team); team -1 means no team."""
    match = Match.objects.create(mode=mode)
    for seat, (user, team) in enumerate(seats):
        MatchSeat.objects.create(match=match, seat=seat, name=f"p{seat}", user=user, team=team)
    return match


def entry(seat: int, rank: int, score: int = 0, team: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"s": seat, "n": f"p{seat}", "sc": score, "k": score, "d": 0, "rank": rank}
    if team is not None:
        data["tm"] = team
    return data


def finish(match: Match, ranking: list[dict[str, Any]], **extra: Any) -> bool:
    aborted = extra.pop("aborted", False)
    result = {"reason": "aborted" if aborted else "score", "tick": 100, "ranking": ranking, **extra}
    return match_finish(match_id=str(match.id), result=result, ticks=100, aborted=aborted)


def rating_of(user: User, mode: str) -> Rating:
    return Rating.objects.get(user=user, mode=mode)


def test_a_new_player_shows_the_default_rating():
    assert DEFAULT_RATING == 1000
    assert rating_display(MODEL.mu, MODEL.sigma) == 1000
    assert rating_display(25.0, 25 / 3) == 1000


def test_a_duel_win_raises_the_winner_and_lowers_the_loser():
    ann, bob = make_user("ann"), make_user("bob")
    match = make_match("duel", [(ann, -1), (bob, -1)])

    assert finish(match, [entry(1, 1, score=10), entry(0, 2, score=4)])

    winner, loser = rating_of(bob, "duel"), rating_of(ann, "duel")
    assert winner.rating > DEFAULT_RATING > loser.rating
    assert winner.rating == rating_display(winner.mu, winner.sigma)
    assert (winner.games, winner.wins, winner.losses, winner.draws) == (1, 1, 0, 0)
    assert (loser.games, loser.wins, loser.losses, loser.draws) == (1, 0, 1, 0)
    changes = {c.user_id: c for c in RatingChange.objects.filter(match=match)}
    assert set(changes) == {ann.pk, bob.pk}
    assert (changes[bob.pk].seat, changes[bob.pk].rank, changes[bob.pk].score) == (1, 1, 10)
    assert (changes[ann.pk].seat, changes[ann.pk].rank, changes[ann.pk].score) == (0, 2, 4)
    assert changes[bob.pk].before == changes[ann.pk].before == DEFAULT_RATING
    assert (changes[bob.pk].after, changes[ann.pk].after) == (winner.rating, loser.rating)
    assert all(c.mode == "duel" and c.team == -1 for c in changes.values())
    assert (changes[bob.pk].outcome, changes[ann.pk].outcome) == ("win", "loss")
    for change in changes.values():  # the change is the skill part plus the certainty part
        assert change.skill == round(40 * (rating_of(change.user, "duel").mu - MODEL.mu))
    assert changes[bob.pk].skill > 0 > changes[ann.pk].skill
    match.refresh_from_db()
    assert match.rated


def test_a_second_match_starts_from_the_stored_rating():
    ann, bob = make_user("ann"), make_user("bob")
    finish(make_match("duel", [(ann, -1), (bob, -1)]), [entry(0, 1), entry(1, 2)])
    after_first = rating_of(ann, "duel").rating

    second = make_match("duel", [(ann, -1), (bob, -1)])
    finish(second, [entry(0, 1), entry(1, 2)])

    row = rating_of(ann, "duel")
    assert (row.games, row.wins) == (2, 2)
    assert row.rating > after_first
    assert RatingChange.objects.get(match=second, user=ann).before == after_first


def test_ratings_are_applied_once_however_often_finish_or_apply_is_called():
    ann, bob = make_user("ann"), make_user("bob")
    match = make_match("duel", [(ann, -1), (bob, -1)])
    finish(match, [entry(0, 1), entry(1, 2)])
    before = list(Rating.objects.order_by("pk").values_list("mu", "sigma", "rating", "games", "wins"))

    assert not finish(match, [entry(1, 1), entry(0, 2)])
    assert ratings_apply(match_id=str(match.id)) == []

    assert list(Rating.objects.order_by("pk").values_list("mu", "sigma", "rating", "games", "wins")) == before
    assert RatingChange.objects.filter(match=match).count() == 2


def test_calling_ratings_apply_first_leaves_nothing_for_the_signal_to_do():
    ann, bob = make_user("ann"), make_user("bob")
    match = make_match("duel", [(ann, -1), (bob, -1)])
    Match.objects.filter(pk=match.pk).update(
        status="finished", result={"reason": "score", "tick": 5, "ranking": [entry(0, 1), entry(1, 2)]}
    )

    changes = ratings_apply(match_id=str(match.id))

    assert {c.user_id for c in changes} == {ann.pk, bob.pk}
    assert all(c.pk is not None for c in changes)
    assert ratings_apply(match_id=str(match.id)) == []
    assert rating_of(ann, "duel").games == 1


def test_an_aborted_match_is_not_rated():
    ann, bob = make_user("ann"), make_user("bob")
    match = make_match("duel", [(ann, -1), (bob, -1)])

    assert finish(match, [], aborted=True)

    assert ratings_apply(match_id=str(match.id)) == []
    match.refresh_from_db()
    assert (match.status, match.rated) == ("aborted", False)
    assert not Rating.objects.exists()
    assert not RatingChange.objects.exists()


@pytest.mark.parametrize("mode", ["custom", "room"])
def test_matches_outside_the_queue_modes_are_never_rated(mode):
    ann, bob = make_user("ann"), make_user("bob")
    match = make_match(mode, [(ann, -1), (bob, -1)])

    assert finish(match, [entry(0, 1), entry(1, 2)])

    assert ratings_apply(match_id=str(match.id)) == []
    match.refresh_from_db()
    assert (match.status, match.rated) == ("finished", False)
    assert not Rating.objects.exists()


def test_a_seat_without_a_user_is_left_out():
    ann, bob = make_user("ann"), make_user("bob")
    match = make_match("ffa", [(ann, -1), (None, -1), (bob, -1)])

    finish(match, [entry(1, 1), entry(2, 2), entry(0, 3)])

    changes = {c.user_id: c for c in RatingChange.objects.filter(match=match)}
    assert set(changes) == {ann.pk, bob.pk}
    # Bob's rank is kept as played (2) and he beat the only other rated player.
    assert changes[bob.pk].rank == 2
    assert changes[bob.pk].after > DEFAULT_RATING > changes[ann.pk].after
    row = rating_of(bob, "ffa")
    assert (row.wins, row.losses, row.draws) == (0, 1, 0), "second place of three is no win"
    assert changes[bob.pk].outcome == "place"


def test_a_match_with_one_rated_player_changes_nothing_but_counts_as_rated():
    ann = make_user("ann")
    match = make_match("duel", [(ann, -1), (None, -1)])

    finish(match, [entry(0, 1), entry(1, 2)])

    match.refresh_from_db()
    assert match.rated
    assert not Rating.objects.exists()
    assert not RatingChange.objects.exists()


def test_both_winners_of_a_two_against_two_gain_and_both_losers_lose():
    ann, bob, cat, dan = (make_user(n) for n in ("ann", "bob", "cat", "dan"))
    match = make_match("team", [(ann, 0), (bob, 1), (cat, 0), (dan, 1)])

    finish(
        match,
        [entry(1, 1, 7, team=1), entry(0, 2, 5, team=0), entry(3, 3, 2, team=1), entry(2, 4, 1, team=0)],
        teams=[{"tm": 1, "sc": 9, "rank": 1}, {"tm": 0, "sc": 6, "rank": 2}],
    )

    changes = {c.user_id: c for c in RatingChange.objects.filter(match=match)}
    for winner in (bob, dan):
        assert changes[winner.pk].after > DEFAULT_RATING
        assert (changes[winner.pk].rank, changes[winner.pk].team) == (1, 1)
        assert rating_of(winner, "team").wins == 1
    for loser in (ann, cat):
        assert changes[loser.pk].after < DEFAULT_RATING
        assert (changes[loser.pk].rank, changes[loser.pk].team) == (2, 0)
        assert rating_of(loser, "team").wins == 0
    assert changes[bob.pk].after == changes[dan.pk].after
    assert (changes[bob.pk].score, changes[dan.pk].score) == (7, 2)


def test_in_free_for_all_the_gains_follow_the_ranks():
    users = [make_user(n) for n in ("ann", "bob", "cat", "dan")]
    match = make_match("ffa", [(u, -1) for u in users])

    # Seat 2 first, then 0, 3, 1.
    finish(match, [entry(2, 1, 9), entry(0, 2, 6), entry(3, 3, 3), entry(1, 4, 0)])

    order = [users[2], users[0], users[3], users[1]]
    after = [RatingChange.objects.get(match=match, user=u).after for u in order]
    assert after == sorted(after, reverse=True)
    assert len(set(after)) == 4
    assert after[0] > DEFAULT_RATING > after[-1]
    assert [rating_of(u, "ffa").wins for u in order] == [1, 0, 0, 0]
    assert [rating_of(u, "ffa").losses for u in order] == [0, 1, 1, 1]
    outcomes = [RatingChange.objects.get(match=match, user=u).outcome for u in order]
    assert outcomes == ["win", "place", "place", "place"]


def test_a_drawn_duel_leaves_both_players_equal_and_counts_as_a_draw_not_a_win():
    ann, bob = make_user("ann"), make_user("bob")
    match = make_match("duel", [(ann, -1), (bob, -1)])

    finish(match, [entry(0, 1, 3), entry(1, 1, 3)])

    a, b = rating_of(ann, "duel"), rating_of(bob, "duel")
    assert (a.mu, a.sigma, a.rating) == (b.mu, b.sigma, b.rating)
    assert a.mu == pytest.approx(MODEL.mu)
    assert [(r.games, r.wins, r.losses, r.draws) for r in (a, b)] == [(1, 0, 0, 1), (1, 0, 0, 1)]
    for change in RatingChange.objects.filter(match=match):
        assert (change.outcome, change.rank) == ("draw", 1)
        # The shown number still rises (sigma shrank): all of it is certainty, none skill.
        assert change.skill == 0
        assert change.after - change.before > 0


def test_a_draw_between_equals_gains_only_certainty_and_a_win_gains_skill_besides():
    ann, bob, cat, dan = (make_user(n) for n in ("ann", "bob", "cat", "dan"))
    drawn = make_match("duel", [(ann, -1), (bob, -1)])
    won = make_match("duel", [(cat, -1), (dan, -1)])

    finish(drawn, [entry(0, 1), entry(1, 1)])
    finish(won, [entry(0, 1), entry(1, 2)])

    draw = RatingChange.objects.get(match=drawn, user=ann)
    win, loss = RatingChange.objects.get(match=won, user=cat), RatingChange.objects.get(match=won, user=dan)
    certainty = draw.after - draw.before
    assert (draw.skill, win.outcome, loss.outcome) == (0, "win", "loss")
    assert win.skill > 0 > loss.skill
    # The same sigma shrink as the draw's (to a point of rounding): the rest is the result's.
    assert abs(win.after - win.before - win.skill - certainty) <= 1
    assert abs(loss.after - loss.before - loss.skill - certainty) <= 1
    assert win.after > draw.after > loss.after


@pytest.mark.parametrize(
    ("ranks", "outcomes"),
    [
        ([1, 2], ["win", "loss"]),
        ([1, 1], ["draw", "draw"]),
        ([2, 1, 3], ["place", "win", "place"]),
        ([1, 1, 3, 4], ["draw", "draw", "place", "place"]),
        ([1, 1, 1], ["draw", "draw", "draw"]),
    ],
    ids=["duel won", "duel drawn", "ffa won", "ffa first shared", "ffa all tied"],
)
def test_the_outcome_follows_the_rank_among_every_sides_rank(ranks, outcomes):
    assert [outcome(rank, ranks) for rank in ranks] == outcomes


def test_a_free_for_all_counts_first_alone_as_a_win_a_shared_first_as_a_draw_and_the_rest_as_losses():
    users = [make_user(n) for n in ("ann", "bob", "cat", "dan")]
    match = make_match("ffa", [(u, -1) for u in users])

    finish(match, [entry(0, 1, 5), entry(1, 1, 5), entry(2, 3, 1), entry(3, 4, 0)])

    rows = [rating_of(u, "ffa") for u in users]
    assert [(r.wins, r.losses, r.draws) for r in rows] == [(0, 0, 1), (0, 0, 1), (0, 1, 0), (0, 1, 0)]
    outcomes = [RatingChange.objects.get(match=match, user=u).outcome for u in users]
    assert outcomes == ["draw", "draw", "place", "place"]


def test_a_drawn_team_match_is_a_draw_for_all_four():
    ann, bob, cat, dan = (make_user(n) for n in ("ann", "bob", "cat", "dan"))
    match = make_match("team", [(ann, 0), (bob, 1), (cat, 0), (dan, 1)])

    finish(
        match,
        [entry(0, 1, 3, team=0), entry(1, 1, 3, team=1), entry(2, 3, 1, team=0), entry(3, 3, 1, team=1)],
        teams=[{"tm": 0, "sc": 4, "rank": 1}, {"tm": 1, "sc": 4, "rank": 1}],
    )

    for user in (ann, bob, cat, dan):
        row = rating_of(user, "team")
        assert (row.wins, row.losses, row.draws) == (0, 0, 1)
        assert RatingChange.objects.get(match=match, user=user).outcome == "draw"


def test_a_mode_configured_unrated_is_not_rated_and_has_no_leaderboard(settings):
    settings.GAME_MODES = {**settings.GAME_MODES, "duel": {"game": "arena", "players": 2, "rated": False}}
    ann, bob = make_user("ann"), make_user("bob")
    match = make_match("duel", [(ann, -1), (bob, -1)])

    finish(match, [entry(0, 1), entry(1, 2)])

    assert not Rating.objects.exists()
    assert "duel" not in ratings_of(user_id=ann.pk)
    assert set(ratings_of(user_id=ann.pk).values()) == {DEFAULT_RATING}


def test_a_new_rated_mode_from_the_settings_is_rated_with_its_own_ratings(settings):
    settings.GAME_MODES = {**settings.GAME_MODES, "trio": {"game": "arena", "players": 3}}
    users = [make_user(n) for n in ("ann", "bob", "cat")]
    match = make_match("trio", [(u, -1) for u in users])

    finish(match, [entry(0, 1), entry(1, 2), entry(2, 3)])

    assert [rating_of(u, "trio").games for u in users] == [1, 1, 1]
    assert rating_of(users[0], "trio").wins == 1
    assert ratings_of(user_id=users[0].pk)["trio"] == rating_of(users[0], "trio").rating
    assert not Rating.objects.exclude(mode="trio").exists()


def test_the_migration_recounts_old_draws_that_were_counted_as_wins():
    """Rows written before wins, losses and draws were apart: the backfill sorts them out."""
    ann, bob, cat = make_user("ann"), make_user("bob"), make_user("cat")
    drawn = make_match("duel", [(ann, -1), (bob, -1)])
    finish(drawn, [entry(0, 1), entry(1, 1)])
    ffa = make_match("ffa", [(ann, -1), (None, -1), (cat, -1)])
    finish(ffa, [entry(1, 1), entry(0, 2), entry(2, 3)])
    # As the old code left them: a draw was a win for both, no outcome, no losses or draws.
    RatingChange.objects.update(outcome="")
    Rating.objects.filter(mode="duel").update(wins=1, losses=0, draws=0)
    Rating.objects.filter(mode="ffa").update(wins=0, losses=0, draws=0)

    migration = importlib.import_module("lobby.migrations.0002_rating_outcomes")
    migration.backfill(django_apps, None)

    assert [(r.wins, r.losses, r.draws) for r in (rating_of(ann, "duel"), rating_of(bob, "duel"))] == [
        (0, 0, 1),
        (0, 0, 1),
    ]
    assert (rating_of(ann, "ffa").losses, rating_of(cat, "ffa").losses) == (1, 1), "a guest took first"
    assert set(RatingChange.objects.filter(match=drawn).values_list("outcome", flat=True)) == {"draw"}
    assert set(RatingChange.objects.filter(match=ffa).values_list("outcome", flat=True)) == {"place"}


def test_players_sharing_a_place_in_free_for_all_gain_the_same():
    users = [make_user(n) for n in ("ann", "bob", "cat")]
    match = make_match("ffa", [(u, -1) for u in users])

    finish(match, [entry(0, 1, 5), entry(1, 1, 5), entry(2, 3, 1)])

    after = [RatingChange.objects.get(match=match, user=u).after for u in users]
    assert after[0] == after[1] > DEFAULT_RATING > after[2]


def test_ratings_for_gives_the_default_to_players_without_a_rating():
    ann, bob, cat = make_user("ann"), make_user("bob"), make_user("cat")
    finish(make_match("duel", [(ann, -1), (bob, -1)]), [entry(0, 1), entry(1, 2)])

    ratings = ratings_for(user_ids=[ann.pk, bob.pk, cat.pk], mode="duel")

    assert ratings == {
        ann.pk: rating_of(ann, "duel").rating,
        bob.pk: rating_of(bob, "duel").rating,
        cat.pk: DEFAULT_RATING,
    }
    assert ratings_for(user_ids=[ann.pk], mode="ffa") == {ann.pk: DEFAULT_RATING}
    assert ratings_for(user_ids=[], mode="duel") == {}


def test_ratings_of_lists_every_mode():
    ann, bob = make_user("ann"), make_user("bob")
    finish(make_match("duel", [(ann, -1), (bob, -1)]), [entry(0, 1), entry(1, 2)])

    assert ratings_of(user_id=ann.pk) == {
        "duel": rating_of(ann, "duel").rating,
        **dict.fromkeys(rated_modes()[1:], DEFAULT_RATING),
    }
    assert rated_modes()[:3] == ["duel", "team", "ffa"]


def test_a_player_who_forfeits_a_duel_they_led_loses_it():
    ann, bob = make_user("ann"), make_user("bob")
    match = make_match("duel", [(ann, -1), (bob, -1)])
    state = ARENA.initial_state(
        players=[{"seat": 0, "name": "ann"}, {"seat": 1, "name": "bob"}],
        settings={"tick_hz": 20, "score_limit": 10, "time_limit_ticks": 2400},
        seed=3,
    )
    state.players[0].score = 4  # ann leads, then never comes back
    state, _events = ARENA.forfeit(state, 0)
    state, _events = ARENA.step(state, {})
    result: Any = ARENA.result(state)
    assert result["reason"] == "forfeit"
    assert match_finish(match_id=str(match.id), result=result, ticks=result["tick"])
    assert rating_of(bob, "duel").rating > DEFAULT_RATING > rating_of(ann, "duel").rating
    assert (rating_of(bob, "duel").wins, rating_of(ann, "duel").wins) == (1, 0)
