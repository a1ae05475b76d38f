"""HTTP: guests, registration, session login/logout, bearer tokens, CSRF, and the admin."""

import hashlib
import json
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from lobby.models import AuthToken, Player

pytestmark = pytest.mark.django_db

STRONG = "correct horse battery staple"


def post(client: Client, path: str, body: object = None, token: str | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    response = client.post(
        path,
        data=json.dumps(body if body is not None else {}),
        content_type="application/json",
        headers=headers,
    )
    return response.status_code, response.json()


def me(client: Client, token: str | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    response = client.get("/api/auth/me/", headers=headers)
    return response.status_code, response.json()


def register(client: Client, username: str, password: str = STRONG) -> tuple[int, dict]:
    return post(client, "/api/auth/register/", {"username": username, "password": password})


def test_a_guest_gets_a_player_a_session_and_a_token(client):
    status, body = post(client, "/api/auth/guest/", {"name": "  Ann "})
    assert status == 201
    player = Player.objects.get(pk=body["player"]["id"])
    assert body["player"] == {"id": player.pk, "name": "Ann", "guest": True}
    assert (player.name, player.name_key, player.is_guest) == ("Ann", "ann", True)
    assert re.fullmatch(r"guest-[0-9a-f]{20}", player.user.username)
    assert not player.user.has_usable_password()
    assert body["expires_in"] == settings.AUTH_TOKEN_TTL
    assert me(client) == (200, {"player": body["player"]})
    assert me(Client(), token=body["token"]) == (200, {"player": body["player"]})


def test_only_the_hash_of_a_token_is_stored(client):
    _, body = post(client, "/api/auth/guest/", {"name": "Ann"})
    stored = AuthToken.objects.get()
    assert stored.key_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    assert body["token"] not in stored.key_hash
    lifetime = stored.expires_at - stored.created_at
    assert abs(lifetime - timedelta(seconds=settings.AUTH_TOKEN_TTL)) < timedelta(seconds=5)


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/api/auth/guest/", {"name": "ab"}, 400, "bad_name"),
        ("/api/auth/guest/", {"name": "no!"}, 400, "bad_name"),
        ("/api/auth/guest/", {}, 400, "bad_name"),
        ("/api/auth/guest/", {"name": "Adm1n"}, 400, "bad_name"),
        ("/api/auth/guest/", {"name": "ann", "age": 3}, 400, "bad_request"),
        ("/api/auth/guest/", [1], 400, "bad_json"),
        ("/api/auth/register/", {"username": "x y  z", "password": STRONG}, 400, "bad_name"),
        ("/api/auth/register/", {"username": "support", "password": STRONG}, 400, "bad_name"),
        ("/api/auth/register/", {"username": "carol", "password": "short"}, 400, "weak_password"),
        ("/api/auth/register/", {"username": "carol", "password": "password123"}, 400, "weak_password"),
        ("/api/auth/register/", {"username": "carol", "password": "48151623420815"}, 400, "weak_password"),
        ("/api/auth/register/", {"username": "carolina", "password": "carolina1"}, 400, "weak_password"),
        ("/api/auth/register/", {"username": "carol"}, 400, "weak_password"),
        ("/api/auth/register/", {"username": "carol", "password": 12345678901}, 400, "weak_password"),
        ("/api/auth/login/", {"username": "nobody", "password": STRONG}, 400, "bad_credentials"),
        ("/api/auth/login/", {"username": ["x"], "password": STRONG}, 400, "bad_credentials"),
        ("/api/auth/token/", {"username": "nobody", "password": STRONG}, 400, "bad_credentials"),
        ("/api/auth/token/", {"guest": "a"}, 400, "bad_name"),
        ("/api/auth/token/", {"guest": "ann", "username": "ann"}, 400, "bad_request"),
    ],
)
def test_bad_account_requests_get_a_clear_error_and_create_nobody(client, path, body, status, code):
    answer_status, answer = post(client, path, body)
    assert (answer_status, answer["error"]) == (status, code)
    assert answer["detail"]
    assert User.objects.count() == 0
    assert me(client)[0] == 401


def test_weak_password_errors_carry_the_validator_messages(client):
    _, answer = register(client, "carol", "short")
    assert "too short" in answer["detail"]


def test_a_registered_name_and_its_look_alikes_are_taken_for_guests_and_accounts(client):
    assert register(client, "Bob")[0] == 201
    for path, body in [
        ("/api/auth/guest/", {"name": "b0b"}),
        ("/api/auth/token/", {"guest": "BOB"}),
        ("/api/auth/register/", {"username": "8ob", "password": STRONG}),
    ]:
        status, answer = post(Client(), path, body)
        assert (status, answer["error"]) == (409, "name_taken"), path
    assert Player.objects.count() == 1


def test_an_online_guest_holds_its_name_and_an_offline_one_does_not(client):
    _, body = post(client, "/api/auth/guest/", {"name": "Ann"})
    Player.objects.filter(pk=body["player"]["id"]).update(online_since=timezone.now())
    assert post(Client(), "/api/auth/guest/", {"name": "ANN"})[1]["error"] == "name_taken"
    assert register(Client(), "Ann")[1]["error"] == "name_taken"

    Player.objects.filter(pk=body["player"]["id"]).update(online_since=None)
    assert post(Client(), "/api/auth/guest/", {"name": "ANN"})[0] == 201
    assert register(Client(), "Ann")[0] == 201
    assert Player.objects.filter(name_key="ann").count() == 3


def test_a_username_already_in_the_user_table_counts_as_taken(client):
    User.objects.create_user(username="carol", password=STRONG)  # e.g. made with createsuperuser
    status, answer = register(client, "carol")
    assert (status, answer["error"]) == (409, "name_taken")
    assert "'carol'" in answer["detail"]


def test_register_login_me_and_logout_work_with_the_session(client):
    status, body = register(client, "Carol")
    assert status == 201
    assert body["player"]["name"] == "Carol"
    assert body["player"]["guest"] is False
    assert me(client) == (200, body)

    assert post(client, "/api/auth/logout/") == (200, {"ok": True})
    assert me(client) == (401, {"error": "unauthenticated", "detail": "log in, or send a bearer token"})

    status, answer = post(client, "/api/auth/login/", {"username": "Carol", "password": "wrong " + STRONG})
    assert (status, answer["error"]) == (400, "bad_credentials")
    assert me(client)[0] == 401

    assert post(client, "/api/auth/login/", {"username": "Carol", "password": STRONG}) == (200, body)
    assert me(client) == (200, body)


def test_guests_can_never_log_in_with_a_password(client):
    _, body = post(client, "/api/auth/guest/", {"name": "Ann"})
    username = Player.objects.get(pk=body["player"]["id"]).user.username
    for password in ["", "!", STRONG]:
        status, answer = post(Client(), "/api/auth/login/", {"username": username, "password": password})
        assert (status, answer["error"]) == (400, "bad_credentials")


def test_users_made_outside_the_lobby_get_a_player_when_they_log_in(client):
    User.objects.create_superuser(username="root.of.all.evil.x", password=STRONG)
    status, body = post(client, "/api/auth/login/", {"username": "root.of.all.evil.x", "password": STRONG})
    assert status == 200
    assert body["player"]["name"] == "root.of.all.evil"
    player = Player.objects.get(pk=body["player"]["id"])
    assert (player.name_key, player.is_guest) == ("rootofallevll", False)


def test_a_user_made_outside_the_lobby_whose_name_is_owned_gets_a_numbered_name(client):
    assert register(client, "Bob")[0] == 201
    other = User.objects.create_user(username="BOB", password=STRONG)
    status, body = post(Client(), "/api/auth/token/", {"username": "BOB", "password": STRONG})
    assert status == 200
    assert body["player"] == {"id": other.pk, "name": f"BOB-{other.pk}", "guest": False}


def test_the_token_endpoint_gives_an_account_a_working_token_and_no_cookie():
    register(Client(), "Carol")
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        "/api/auth/token/",
        data=json.dumps({"username": "Carol", "password": STRONG}),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert not response.cookies
    body = response.json()
    assert body["expires_in"] == settings.AUTH_TOKEN_TTL
    assert me(Client(), token=body["token"]) == (200, {"player": body["player"]})


def test_the_token_endpoint_creates_a_guest_without_csrf_or_cookie():
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        "/api/auth/token/", data=json.dumps({"guest": "Ann"}), content_type="application/json"
    )
    assert response.status_code == 201
    assert not response.cookies
    body = response.json()
    assert body["player"]["guest"] is True
    assert me(Client(), token=body["token"]) == (200, {"player": body["player"]})
    assert me(strict)[0] == 401  # no session was started


def test_browsers_must_send_the_csrf_token_for_session_views():
    strict = Client(enforce_csrf_checks=True)
    status, answer = post(strict, "/api/auth/guest/", {"name": "Ann"})
    assert (status, answer["error"]) == (403, "csrf_failed")
    assert Player.objects.count() == 0
    strict.get("/")
    response = strict.post(
        "/api/auth/guest/",
        data=json.dumps({"name": "Ann"}),
        content_type="application/json",
        headers={"X-CSRFToken": strict.cookies["csrftoken"].value},
    )
    assert response.status_code == 201


def test_a_bearer_token_needs_no_csrf_token_and_logout_revokes_it(client):
    _, body = post(Client(), "/api/auth/token/", {"guest": "Ann"})
    strict = Client(enforce_csrf_checks=True)
    assert post(strict, "/api/auth/logout/")[1]["error"] == "csrf_failed"
    assert post(strict, "/api/auth/logout/", token=body["token"]) == (200, {"ok": True})
    assert AuthToken.objects.count() == 0
    status, answer = me(strict, token=body["token"])
    assert (status, answer["error"]) == (401, "bad_token")
    # A logout retried (its answer was lost on the way) is still a success, nothing else.
    assert post(strict, "/api/auth/logout/", token=body["token"]) == (200, {"ok": True})
    assert post(strict, "/api/auth/logout/", token="never-issued") == (200, {"ok": True})


def test_an_expired_token_is_refused(client):
    _, body = post(client, "/api/auth/token/", {"guest": "Ann"})
    assert me(Client(), token=body["token"])[0] == 200
    AuthToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Client().get("/api/auth/me/", headers={"Authorization": f"Bearer {body['token']}"})
    assert response.status_code == 401
    assert response.json()["error"] == "bad_token"
    assert response["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer ", "bearer x.y.z"])
def test_a_bad_token_is_refused_even_with_a_valid_session(client, header):
    register(client, "Carol")
    assert me(client)[0] == 200
    response = client.get("/api/auth/me/", headers={"Authorization": header})
    assert (response.status_code, response.json()["error"]) == (401, "bad_token")


def test_other_authorization_schemes_are_left_alone(client):
    register(client, "Carol")
    assert client.get("/api/auth/me/", headers={"Authorization": "Basic Y2Fyb2w6eA=="}).status_code == 200


def test_a_token_of_a_deactivated_user_stops_working(client):
    _, body = post(client, "/api/auth/token/", {"guest": "Ann"})
    User.objects.update(is_active=False)
    assert me(Client(), token=body["token"])[1]["error"] == "bad_token"


def test_the_admin_lists_players_and_tokens_but_never_token_hashes(admin_client):
    assert post(Client(), "/api/auth/token/", {"guest": "Ann"})[0] == 201
    stored = AuthToken.objects.get()
    for page in [
        "/admin/lobby/player/",
        "/admin/lobby/authtoken/",
        f"/admin/lobby/authtoken/{stored.pk}/change/",
        "/admin/lobby/rating/",
        "/admin/lobby/ratingchange/",
        "/admin/lobby/chatmessage/",
    ]:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        assert stored.key_hash not in response.content.decode()
    assert "Ann" in admin_client.get("/admin/lobby/player/").content.decode()
    assert admin_client.get("/admin/lobby/authtoken/add/").status_code == 403


def test_sign_in_attempts_are_throttled_per_client_address(client, settings):
    settings.AUTH_RATE_PER_MIN = 3
    answers = [
        client.post(
            "/api/auth/token/", {"username": "nobody", "password": "x"}, content_type="application/json"
        )
        for _ in range(5)
    ]
    assert [a.status_code for a in answers] == [400, 400, 400, 429, 429]
    assert answers[-1].json()["error"] == "rate_limited"
    assert int(answers[-1]["Retry-After"]) >= 1
