"""HTTP: the match API (practice matches without the lobby) and the liveness probe."""

import math
import threading
import time
import uuid
from datetime import timedelta

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db.models import Count, Min
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from gameserver.edge.liveness import readiness
from gameserver.groups import TICK_CHANNEL
from gameserver.http import api, error, json_body, page, throttle
from match import selectors, services
from match.games import UnknownGame
from match.models import Match

# A match waits at most MATCH_JOIN_TIMEOUT once a tick worker has it, plus the moment it spends
# in the channel before that: older waiting rows are leftovers (a worker died), not counted.
START_SLACK_SECONDS = 10
WORKERS_TTL_SECONDS = 5.0  # how long the count of live tick workers is reused


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: JSON for the API, Django's page for everything else."""
    if request.path.startswith("/api/"):
        return error("csrf_failed", f"send the csrftoken cookie's value as X-CSRFToken ({reason})", 403)
    from django.views.csrf import csrf_failure as default_failure

    return default_failure(request, reason=reason)


@page("GET")
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers."""
    return JsonResponse({"ok": True})


_workers_lock = threading.Lock()
_workers_seen: tuple[float, int] = (-math.inf, 1)


def tick_workers() -> int:
    """Live tick workers (at least 1): this process's, or with Redis the cluster's (their
    liveness keys); asked at most every WORKERS_TTL_SECONDS."""
    global _workers_seen
    with _workers_lock:
        seen_at, count = _workers_seen
        if time.monotonic() - seen_at < WORKERS_TTL_SECONDS:
            return count
        _ready, details = async_to_sync(readiness)()
        count = max(1, int(details.get("workers", {}).get(TICK_CHANNEL, 0)))
        _workers_seen = (time.monotonic(), count)
        return count


def waiting_room_full() -> tuple[int, int]:
    """(matches waiting for players, seconds until the oldest of them has started or ended) once
    they fill half of the tick workers' room (MATCH_WAITING_MAX each), else (count, 0). The other
    half stays free for the lobby's matches, which a worker beyond its cap would refuse."""
    horizon = settings.MATCH_JOIN_TIMEOUT + START_SLACK_SECONDS
    now = timezone.now()
    waiting = Match.objects.filter(
        status=Match.Status.WAITING, created_at__gte=now - timedelta(seconds=horizon)
    ).aggregate(count=Count("pk"), oldest=Min("created_at"))
    count = int(waiting["count"])
    room = max(1, settings.MATCH_WAITING_MAX * tick_workers() // 2)
    if count < room:
        return count, 0
    left = (waiting["oldest"] + timedelta(seconds=horizon) - now).total_seconds()
    return count, max(1, math.ceil(left))


@never_cache  # the answer carries the seats' tickets: no cache may keep it
@api("POST")
@throttle("match_create", "MATCH_CREATE_PER_MIN")
def match_create_view(request: HttpRequest) -> JsonResponse:
    """Create a match and return one signed, expiring ticket per seat: at most
    MATCH_CREATE_PER_MIN a minute per client address, and none while the tick workers' room
    for waiting matches is half full (503 ``busy``: a flood does not pile matches up in them)."""
    body = json_body(request, {"players", "names", "game", "score_limit", "time_limit"})
    names = body.get("names")
    if names is not None and not isinstance(names, list):
        return error("bad_request", f"names must be a list, got {names!r}")
    game = body.get("game")
    if game is not None and not isinstance(game, str):
        return error("bad_request", f"game must be a string, got {game!r}")
    waiting, retry_after = waiting_room_full()
    if retry_after:
        response = error(
            "busy",
            f"{waiting} matches are waiting for players, as many as the server takes; try again later",
            503,
        )
        response["Retry-After"] = str(retry_after)
        return response
    try:
        match = services.match_create(
            players=body.get("players"),
            names=names,
            game=game,
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
