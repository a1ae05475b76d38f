"""HTTP: leaderboards and player profiles (JSON; the page is the web app's)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from gameserver.http import BadRequest, api, error
from lobby.selectors import stats
from lobby.selectors.stats import PAGE_SIZE_DEFAULT, BadPage, UnknownMode

MAX_DIGITS = 9


def whole_number(request: HttpRequest, name: str, default: int) -> int:
    """A query parameter of plain ASCII digits (no sign, space or other scripts' digits)."""
    raw = request.GET.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_DIGITS):
        raise BadRequest("bad_request", f"{name} must be a whole number, got {raw!r}")
    return int(raw)


@api("GET")
def leaderboard_view(request: HttpRequest, mode: str) -> JsonResponse:
    page = whole_number(request, "page", 1)
    size = whole_number(request, "size", PAGE_SIZE_DEFAULT)
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
