"""HTTP: the play page and the match API."""

import json
import re
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from match.models import Match
from match.tickets import ticket_verify

pytestmark = pytest.mark.django_db


def post(client: Client, body: object) -> tuple[int, dict]:
    response = client.post("/api/matches/", data=json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


def test_the_play_page_loads_the_pinned_msgpack_library_and_the_client(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/vendor/msgpack.min.js" in html
    assert "/static/web/client.js" in html
    assert "csrftoken" in response.cookies


def test_creating_a_match_returns_one_signed_ticket_per_seat(client):
    status, body = post(client, {"players": 3, "names": ["ann"], "time_limit": 30, "score_limit": 5})
    assert status == 201
    match = Match.objects.get(pk=body["id"])
    assert match.status == "waiting"
    assert match.settings == {"tick_hz": 20, "score_limit": 5, "time_limit_ticks": 600}
    assert [p["name"] for p in body["players"]] == ["ann", "Player 2", "Player 3"]
    assert [t["seat"] for t in body["tickets"]] == [0, 1, 2]
    for ticket in body["tickets"]:
        claims = ticket_verify(ticket=ticket["ticket"])
        assert (claims.match_id, claims.seat) == (body["id"], ticket["seat"])
        assert ticket["url"] == f"/?match={body['id']}&ticket={ticket['ticket']}"
    assert body["ws_path"] == f"/ws/match/{body['id']}/"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"players": 1}, "bad_request"),
        ({"players": 9}, "bad_request"),
        ({"players": "2"}, "bad_request"),
        ({"players": 2, "names": ["a", "b", "c"]}, "bad_request"),
        ({"players": 2, "names": [""]}, "bad_request"),
        ({"players": 2, "names": ["x" * 17]}, "bad_request"),
        ({"players": 2, "names": [5]}, "bad_request"),
        ({"players": 2, "names": "ann"}, "bad_request"),
        ({"players": 2, "time_limit": 1}, "bad_request"),
        ({"players": 2, "score_limit": 0}, "bad_request"),
        ({"players": 2, "colour": "red"}, "bad_request"),
        ({"players": 2, "game": "chess"}, "unknown_game"),
        ({"players": 2, "game": 5}, "bad_request"),
        ([1, 2], "bad_json"),
    ],
)
def test_bad_match_requests_get_a_clear_error_and_create_nothing(client, body, code):
    status, answer = post(client, body)
    assert status == 400
    assert answer["error"] == code
    assert answer["detail"]
    assert Match.objects.count() == 0


def test_a_practice_match_plays_any_registered_game_with_that_games_player_range(client, settings):
    settings.GAMES = ["match.games.arena", "tests.lobby.minigame"]  # "mini": the arena for 2..4
    status, body = post(client, {"game": "mini", "players": 4})
    assert status == 201
    assert Match.objects.get(pk=body["id"]).game == "mini"
    assert len(body["tickets"]) == 4
    status, answer = post(client, {"game": "mini", "players": 5})
    assert (status, answer["error"]) == (400, "bad_request")
    assert "2..4" in answer["detail"]
    status, body = post(client, {"game": "mini"})
    assert status == 201
    assert len(body["players"]) == 2, "the game's fewest players by default"
    assert client.get(f"/api/matches/{body['id']}/").json()["game"] == "mini"


def test_without_a_game_a_practice_match_plays_the_first_registered_one(client, settings):
    settings.GAMES = ["tests.lobby.minigame", "match.games.arena"]
    status, body = post(client, {})
    assert status == 201
    assert Match.objects.get(pk=body["id"]).game == "mini"
    status, answer = post(client, {"game": "chess"})
    assert (status, answer["error"]) == (400, "unknown_game")
    assert "mini, arena" in answer["detail"], "the error lists the games there are"


def test_a_body_that_is_not_json_is_refused(client):
    response = client.post("/api/matches/", data=b"{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "bad_json"


def test_control_characters_are_stripped_from_names(client):
    status, body = post(client, {"players": 2, "names": ["a\x00n\u202en"]})
    assert status == 201
    assert body["players"][0]["name"] == "ann"


def test_browsers_must_send_the_csrf_token_to_create_a_match():
    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/api/matches/", data="{}", content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"] == "csrf_failed"
    strict.get("/")
    token = strict.cookies["csrftoken"].value
    response = strict.post(
        "/api/matches/", data="{}", content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert response.status_code == 201


def test_match_detail_shows_status_and_result(client):
    _, body = post(client, {"players": 2})
    detail = client.get(f"/api/matches/{body['id']}/").json()
    assert detail["status"] == "waiting"
    assert detail["result"] is None
    assert client.get("/api/matches/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_healthz_answers_ok(client):
    assert client.get("/healthz").json() == {"ok": True}


def test_the_creatematch_command_prints_a_join_link_per_seat():
    out = StringIO()
    call_command("creatematch", "--players", "2", "--names", "ann,bob", "--no-start", stdout=out)
    lines = out.getvalue().splitlines()
    match_id = lines[0].split()[1]
    assert Match.objects.filter(pk=match_id).exists()
    assert re.fullmatch(rf"seat 0 \(ann\): http://127\.0\.0\.1:8000/\?match={match_id}&ticket=\S+", lines[1])
    assert lines[2].startswith("seat 1 (bob): ")


def test_the_admin_lists_matches(admin_client):
    post(admin_client, {"players": 2})
    response = admin_client.get("/admin/match/match/")
    assert response.status_code == 200
    assert "Waiting for players" in response.content.decode()


def test_the_api_answers_a_wrong_method_with_a_json_405(client):
    response = client.get("/api/matches/")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["error"] == "method_not_allowed"
    assert client.post(f"/api/matches/{uuid.uuid4()}/").json()["error"] == "method_not_allowed"


@pytest.mark.parametrize("path", ["/", "/leaderboard/", "/healthz", "/readyz", "/metrics"])
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_a_page_answers_a_wrong_method_with_an_empty_405_not_a_csrf_page(path, method):
    """docs/protocol.md 2.4: a page changes nothing, so a plain POST (no CSRF token, as a
    script sends it) is a wrong method, not a CSRF failure."""
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert response.content == b""
