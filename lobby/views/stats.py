"""HTTP: leaderboards (JSON and a server-rendered page) and player profiles."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from gameserver.http import BadRequest, api, error
from gameserver.protocol.lobby import DUEL, MODES
from lobby.selectors import stats
from lobby.selectors.stats import PAGE_SIZE_DEFAULT, BadPage, UnknownMode

MAX_DIGITS = 9


def _whole_number(request: HttpRequest, name: str, default: int) -> int:
    """A query parameter of plain ASCII digits (no sign, space or other scripts' digits)."""
    raw = request.GET.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_DIGITS):
        raise BadRequest("bad_request", f"{name} must be a whole number, got {raw!r}")
    return int(raw)


@api("GET")
def leaderboard_view(request: HttpRequest, mode: str) -> JsonResponse:
    page = _whole_number(request, "page", 1)
    size = _whole_number(request, "size", PAGE_SIZE_DEFAULT)
    try:
        return JsonResponse(stats.leaderboard_page(mode=mode, page=page, size=size))
    except UnknownMode as exc:
        return error("unknown_mode", str(exc), 404)
    except BadPage as exc:
        return error("bad_request", str(exc))


@api("GET")
def player_view(request: HttpRequest, player_id: int) -> JsonResponse:
    profile = stats.player_profile(player_id=player_id)
    if profile is None:
        return error("not_found", f"no player {player_id!r}", 404)
    return JsonResponse(profile)


@require_GET
def leaderboard_page(request: HttpRequest) -> HttpResponse:
    mode = request.GET.get("mode", DUEL)
    try:
        page = _whole_number(request, "page", 1)
        board = stats.leaderboard_page(mode=mode, page=page, size=PAGE_SIZE_DEFAULT)
    except UnknownMode as exc:
        raise Http404(str(exc)) from None
    except (BadRequest, BadPage) as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    return render(
        request,
        "lobby/leaderboard.html",
        {
            "board": board,
            "modes": MODES,
            "previous_page": min(page - 1, board["pages"]) if page > 1 else None,
            "next_page": page + 1 if page < board["pages"] else None,
        },
    )
