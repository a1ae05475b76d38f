"""HTTP: the leaderboard API and page, and player profiles."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.contrib.auth.models import User
from django.test import Client

from lobby.models import Player, Rating
from lobby.modes import rated_modes
from match.models import Match, MatchSeat
from match.services import match_finish

pytestmark = pytest.mark.django_db


def make_user(name: str, *, guest: bool = False) -> User:
    user = User.objects.create_user(username=f"u-{name}", password=None)
    Player.objects.create(user=user, name=name, name_key=name.lower(), is_guest=guest)
    return user


def rate(user: User, mode: str, rating: int, games: int, wins: int = 0, draws: int = 0) -> None:
    Rating.objects.create(
        user=user,
        mode=mode,
        mu=25.0,
        sigma=8.0,
        rating=rating,
        games=games,
        wins=wins,
        draws=draws,
        losses=games - wins - draws,
    )


def play_duel(winner: User, loser: User, *, drawn: bool = False) -> Match:
    match = Match.objects.create(mode="duel")
    MatchSeat.objects.create(match=match, seat=0, name="w", user=winner)
    MatchSeat.objects.create(match=match, seat=1, name="l", user=loser)
    ranking = [
        {"s": 0, "n": "w", "sc": 5, "k": 5, "d": 1, "rank": 1},
        {"s": 1, "n": "l", "sc": 5 if drawn else 1, "k": 1, "d": 5, "rank": 1 if drawn else 2},
    ]
    assert match_finish(
        match_id=str(match.id), result={"reason": "score", "tick": 9, "ranking": ranking}, ticks=9
    )
    return match


def board(client: Client, mode: str = "duel", **params: str | int) -> tuple[int, dict]:
    response = client.get(f"/api/leaderboard/{mode}/", params)
    return response.status_code, response.json()


def test_the_leaderboard_orders_by_rating_then_games_then_oldest_player(client):
    ann, bob, cat, dan, eve = (make_user(n) for n in ("ann", "bob", "cat", "dan", "eve"))
    rate(ann, "duel", 1100, games=3, wins=1, draws=1)
    rate(bob, "duel", 1200, games=1, wins=1)
    rate(cat, "duel", 1100, games=5, wins=1)
    rate(dan, "duel", 1100, games=3)
    rate(eve, "duel", 1500, games=0)  # never played: not listed
    rate(eve, "ffa", 1300, games=2)  # another mode: not listed

    status, body = board(client)

    assert status == 200
    assert (body["mode"], body["page"], body["size"], body["total"], body["pages"]) == ("duel", 1, 20, 4, 1)
    assert [e["player"]["name"] for e in body["entries"]] == ["bob", "cat", "ann", "dan"]
    assert [e["rank"] for e in body["entries"]] == [1, 2, 3, 4]
    assert body["entries"][2] == {
        "rank": 3,
        "player": {"id": ann.pk, "name": "ann", "guest": False},
        "rating": 1100,
        "games": 3,
        "wins": 1,
        "losses": 1,
        "draws": 1,
    }


def test_leaderboard_pages_carry_absolute_ranks_and_a_page_past_the_end_is_empty(client):
    for index in range(5):
        rate(make_user(f"p{index}", guest=index == 3), "ffa", 1000 + index, games=1)

    _, second = board(client, "ffa", page=2, size=2)
    _, last = board(client, "ffa", page=3, size=2)
    _, beyond = board(client, "ffa", page=9, size=2)

    assert (second["total"], second["pages"]) == (5, 3)
    assert [(e["rank"], e["player"]["name"]) for e in second["entries"]] == [(3, "p2"), (4, "p1")]
    assert [(e["rank"], e["player"]["name"]) for e in last["entries"]] == [(5, "p0")]
    assert board(client, "ffa", size=2)[1]["entries"][1]["player"] == {
        "id": Player.objects.get(name="p3").pk,
        "name": "p3",
        "guest": True,
    }
    assert (beyond["page"], beyond["total"], beyond["entries"]) == (9, 5, [])


def test_an_empty_leaderboard_has_one_empty_page(client):
    status, body = board(client, "team")
    assert status == 200
    assert (body["total"], body["pages"], body["entries"]) == (0, 1, [])


def test_an_unknown_mode_is_a_404(client):
    status, body = board(client, "chess")
    assert status == 404
    assert body["error"] == "unknown_mode"
    assert "'chess'" in body["detail"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("page", "0"),
        ("page", "-1"),
        ("page", "two"),
        ("page", ""),
        ("page", "1.5"),
        ("page", "\u0661"),  # an Arabic-Indic one
        ("page", "9" * 40),
        ("size", "0"),
        ("size", "101"),
        ("size", " 5"),
    ],
)
def test_a_bad_page_or_size_is_a_400_naming_the_value(client, name, value):
    status, body = board(client, **{name: value})
    assert status == 400
    assert body["error"] == "bad_request"
    assert body["detail"].startswith(f"{name} must")
    assert value.strip() in body["detail"]


def test_the_largest_page_size_is_accepted(client):
    status, body = board(client, size=100)
    assert (status, body["size"]) == (200, 100)


def test_the_leaderboard_api_only_answers_get(client):
    response = client.post("/api/leaderboard/duel/")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_a_profile_shows_ratings_in_every_mode_and_recent_matches_newest_first(client):
    ann, bob = make_user("ann"), make_user("bob", guest=True)
    first = play_duel(ann, bob)
    second = play_duel(bob, ann)
    third = play_duel(bob, ann, drawn=True)

    response = client.get(f"/api/players/{ann.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["player"] == {"id": ann.pk, "name": "ann", "guest": False}
    duel = Rating.objects.get(user=ann, mode="duel")
    unplayed = {"rating": 1000, "games": 0, "wins": 0, "losses": 0, "draws": 0}
    assert body["ratings"] == {
        "duel": {"rating": duel.rating, "games": 3, "wins": 1, "losses": 1, "draws": 1},
        **dict.fromkeys(rated_modes()[1:], unplayed),
    }
    assert list(body["ratings"])[:3] == ["duel", "team", "ffa"]
    assert [r["match"] for r in body["recent"]] == [str(third.id), str(second.id), str(first.id)]
    assert [r["outcome"] for r in body["recent"]] == ["draw", "loss", "win"]
    latest = body["recent"][1]
    assert {k: latest[k] for k in ("mode", "rank", "score", "team")} == {
        "mode": "duel",
        "rank": 2,
        "score": 1,
        "team": -1,
    }
    assert latest["before"] == body["recent"][2]["after"]
    assert body["recent"][0]["after"] == duel.rating
    assert datetime.fromisoformat(latest["at"]).tzinfo is not None


def test_a_profile_lists_only_the_last_twenty_matches(client):
    ann, bob = make_user("ann"), make_user("bob")
    matches = [play_duel(ann, bob) for _ in range(21)]

    recent = client.get(f"/api/players/{ann.pk}/").json()["recent"]

    assert len(recent) == 20
    assert recent[0]["match"] == str(matches[-1].id)
    assert str(matches[0].id) not in {r["match"] for r in recent}


def test_an_unknown_player_or_a_user_without_a_player_is_a_404(client):
    bare = User.objects.create_user(username="admin-only", password=None)
    for player_id in (bare.pk, 999999):
        response = client.get(f"/api/players/{player_id}/")
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
        assert str(player_id) in response.json()["detail"]


def test_the_leaderboard_page_shows_rows_and_marks_the_current_mode(client):
    ann, bob = make_user("ann"), make_user("<b>bob</b>", guest=True)
    rate(ann, "team", 1234, games=9, wins=5, draws=1)
    rate(bob, "team", 1111, games=2, wins=0)

    response = client.get("/leaderboard/", {"mode": "team"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "<td>ann</td>" in html
    assert "<td>1234</td><td>9</td><td>5</td><td>3</td><td>1</td>" in "".join(html.split())
    assert '<abbr title="losses">L</abbr>' in html
    assert html.index("ann") < html.index("&lt;b&gt;bob&lt;/b&gt;")
    assert "<b>bob</b>" not in html
    assert '<a href="?mode=team" class="current" aria-current="page">team</a>' in html
    assert '<a href="?mode=duel">duel</a>' in html
    assert '<a href="?mode=ffa">ffa</a>' in html
    assert 'href="/"' in html
    assert "/static/web/client.css" in html


def test_the_leaderboard_page_defaults_to_duel_and_links_neighbouring_pages(client):
    for index in range(45):
        rate(make_user(f"p{index:02}"), "duel", 2000 - index, games=1)

    first = client.get("/leaderboard/").content.decode()
    middle = client.get("/leaderboard/", {"mode": "duel", "page": 2}).content.decode()
    last = client.get("/leaderboard/", {"mode": "duel", "page": 3}).content.decode()

    assert 'class="current" aria-current="page">duel<' in first
    assert 'rel="next" href="?mode=duel&amp;page=2"' in first
    assert 'rel="prev"' not in first
    assert "<td>21</td>" in middle
    assert "<td>p20</td>" in middle
    assert "<td>p19</td>" not in middle
    assert 'rel="prev" href="?mode=duel&amp;page=1"' in middle
    assert 'rel="next" href="?mode=duel&amp;page=3"' in middle
    assert "<td>p44</td>" in last
    assert 'rel="next"' not in last


def test_the_leaderboard_page_for_an_unknown_mode_is_a_404(client):
    assert client.get("/leaderboard/", {"mode": "chess"}).status_code == 404


def test_the_leaderboard_page_refuses_a_bad_page_number(client):
    response = client.get("/leaderboard/", {"page": "0"})
    assert response.status_code == 400
    assert "0" in response.content.decode()


def test_the_leaderboard_and_profile_follow_the_rated_modes_of_the_settings(client, settings):
    settings.GAME_MODES = {
        "ffa": {"game": "arena", "players": 8, "party": 8, "rated": False},
        "trio": {"game": "arena", "players": 3},
        "duel": {"game": "arena", "players": 2},
    }
    ann = make_user("ann")
    rate(ann, "trio", 1050, games=1, wins=1)

    assert board(client, "trio")[1]["entries"][0]["player"]["name"] == "ann"
    assert board(client, "ffa")[0] == 404, "an unrated mode has no leaderboard"
    assert list(client.get(f"/api/players/{ann.pk}/").json()["ratings"]) == ["trio", "duel"]
    html = client.get("/leaderboard/").content.decode()
    assert 'class="current" aria-current="page">trio<' in html, "the first rated mode by default"
    assert '<a href="?mode=duel">duel</a>' in html
    assert "?mode=ffa" not in html
