"""HTTP: guests, registration, session login/logout, bearer tokens, and "who am I".

Browsers use the session (CSRF-protected like every session view); other clients get a
token from /api/auth/token/ and send it as ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

from django.contrib.auth import login, logout
from django.contrib.auth.models import User
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from gameserver.http import BadRequest, api, error, json_body, throttle
from lobby.auth import bearer_token
from lobby.models import Player
from lobby.names import InvalidName
from lobby.selectors.accounts import player_public
from lobby.services.accounts import (
    BadCredentials,
    NameTaken,
    WeakPassword,
    guest_create,
    player_ensure,
    token_issue,
    token_revoke,
    user_login_check,
    user_register,
)


def _guest(name: object) -> Player:
    try:
        return guest_create(name=name)
    except InvalidName as exc:
        raise BadRequest("bad_name", str(exc)) from None
    except NameTaken as exc:
        raise BadRequest("name_taken", str(exc), 409) from None


def _credentials_user(username: object, password: object) -> User:
    try:
        return user_login_check(username=username, password=password)
    except BadCredentials as exc:
        raise BadRequest("bad_credentials", str(exc)) from None


def _token_answer(player: Player, status: int) -> JsonResponse:
    token, ttl = token_issue(user=player.user)
    return JsonResponse(
        {"player": player_public(player=player), "token": token, "expires_in": ttl}, status=status
    )


@never_cache  # the answer carries a bearer token: no cache may keep it
@api("POST")
@throttle("auth")
def guest_view(request: HttpRequest) -> JsonResponse:
    """Play without an account: a guest logged in with the session, plus a token."""
    body = json_body(request, {"name"})
    player = _guest(body.get("name"))
    login(request, player.user)
    return _token_answer(player, 201)


@never_cache  # it signs the browser in (a new session cookie)
@api("POST")
@throttle("auth")
def register_view(request: HttpRequest) -> JsonResponse:
    body = json_body(request, {"username", "password"})
    try:
        player = user_register(username=body.get("username"), password=body.get("password"))
    except InvalidName as exc:
        return error("bad_name", str(exc))
    except WeakPassword as exc:
        return error("weak_password", str(exc))
    except NameTaken as exc:
        return error("name_taken", str(exc), 409)
    login(request, player.user)
    return JsonResponse({"player": player_public(player=player)}, status=201)


@never_cache  # it signs the browser in (a new session cookie)
@api("POST")
@throttle("auth")
def login_view(request: HttpRequest) -> JsonResponse:
    body = json_body(request, {"username", "password"})
    user = _credentials_user(body.get("username"), body.get("password"))
    login(request, user)
    return JsonResponse({"player": player_public(player=player_ensure(user=user))})


@api("POST")
def logout_view(request: HttpRequest) -> JsonResponse:
    """End the session, and the bearer token the request came with, if any."""
    token = bearer_token(request.headers.get("Authorization"))
    if token:
        token_revoke(token=token)
    logout(request)
    return JsonResponse({"ok": True})


@csrf_exempt  # sets no cookie and trusts no ambient credential: nothing to forge
@never_cache  # the answer carries a bearer token: no cache may keep it
@api("POST")
@throttle("auth")
def token_view(request: HttpRequest) -> JsonResponse:
    """A bearer token for non-browser clients: of an account, or of a new guest."""
    body = json_body(request, {"username", "password", "guest"})
    if "guest" in body:
        if "username" in body or "password" in body:
            return error("bad_request", "send either guest or username and password, not both")
        return _token_answer(_guest(body["guest"]), 201)
    user = _credentials_user(body.get("username"), body.get("password"))
    return _token_answer(player_ensure(user=user), 200)


@api("GET")
def me_view(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return error("unauthenticated", "log in, or send a bearer token", 401)
    return JsonResponse({"player": player_public(player=player_ensure(user=request.user))})
