"""HTTP: the play page and the match API (a stand-in for the lobby until it exists)."""

import uuid

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from gameserver.http import api, error, json_body
from gameserver.protocol.lobby import CHAT_MAX_CHARS
from lobby.models import Player
from lobby.names import NAME_MAX_LEN, NAME_MIN_LEN
from match import selectors, services
from match.games import UnknownGame, get_game


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: JSON for the API, Django's page for everything else."""
    if request.path.startswith("/api/"):
        return error("csrf_failed", f"send the csrftoken cookie's value as X-CSRFToken ({reason})", 403)
    from django.views.csrf import csrf_failure as default_failure

    return default_failure(request, reason=reason)


@require_GET
@ensure_csrf_cookie
def play(request: HttpRequest) -> HttpResponse:
    """The browser client. ``me`` (the signed-in player, or None) lets the page open on the lobby
    without asking the API first."""
    rules = get_game("arena")
    me = None
    if request.user.is_authenticated:
        player = Player.objects.filter(user=request.user).first()
        me = {
            "id": request.user.pk,
            "name": player.name if player else request.user.get_username(),
            "guest": bool(player and player.is_guest),
        }
    return render(
        request,
        "match/play.html",
        {
            "tick_hz": settings.TICK_HZ,
            "max_players": rules.max_players,
            "me": me,
            "chat_max": CHAT_MAX_CHARS,
            "name_min": NAME_MIN_LEN,
            "name_max": NAME_MAX_LEN,
        },
    )


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers."""
    return JsonResponse({"ok": True})


@api("POST")
def match_create_view(request: HttpRequest) -> JsonResponse:
    """Create a match and return one signed, expiring ticket per seat."""
    body = json_body(request, {"players", "names", "game", "score_limit", "time_limit"})
    names = body.get("names")
    if names is not None and not isinstance(names, list):
        return error("bad_request", f"names must be a list, got {names!r}")
    try:
        match = services.match_create(
            players=body.get("players", 2),
            names=names,
            game=str(body.get("game", "arena")),
            score_limit=body.get("score_limit"),
            time_limit=body.get("time_limit"),
        )
    except UnknownGame as exc:
        return error("unknown_game", str(exc))
    except services.InvalidMatchRequest as exc:
        return error("bad_request", str(exc))
    services.match_request_start(match_id=str(match.id))
    return JsonResponse(
        {
            "id": str(match.id),
            "players": selectors.match_players(match=match),
            "tickets": services.match_tickets(match=match),
            "ws_path": f"/ws/match/{match.id}/",
            "expires_in": settings.MATCH_TICKET_TTL,
        },
        status=201,
    )


@api("GET")
def match_detail_view(request: HttpRequest, match_id: uuid.UUID) -> JsonResponse:
    match = selectors.match_get(match_id=match_id)
    if match is None:
        return error("not_found", f"no match {str(match_id)!r}", 404)
    return JsonResponse(
        {
            "id": str(match.id),
            "game": match.game,
            "mode": match.mode,
            "status": match.status,
            "players": selectors.match_players(match=match),
            "created_at": match.created_at.isoformat(),
            "started_at": match.started_at.isoformat() if match.started_at else None,
            "ended_at": match.ended_at.isoformat() if match.ended_at else None,
            "ticks": match.ticks,
            "result": match.result,
        }
    )
