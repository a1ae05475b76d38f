"""The browser client's pages: the game (lobby and matches in one page) and the leaderboard."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from gameserver.http import BadRequest, page
from gameserver.protocol.lobby import CHAT_MAX_CHARS
from lobby.models import Player
from lobby.modes import rated_modes
from lobby.names import NAME_MAX_LEN, NAME_MIN_LEN
from lobby.selectors import stats
from lobby.selectors.stats import PAGE_SIZE_DEFAULT, BadPage, UnknownMode
from lobby.views.stats import whole_number
from match.games import default_game, games


@page("GET")
@ensure_csrf_cookie
def play(request: HttpRequest) -> HttpResponse:
    """The browser client. ``me`` (the signed-in player, or None) lets the page open on the lobby
    without asking the API first. Every registered game's renderer is loaded (a script each,
    ``web/games/<game>.js``): the match names its game only in its first snapshot."""
    registered = games()
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
        "web/play.html",
        {
            "tick_hz": settings.TICK_HZ,
            "game_scripts": [f"web/games/{name}.js" for name in registered],
            # What the practice form offers: each game with its players per match, the default
            # (the first registered) first.
            "games": [
                {"game": name, "min": rules.min_players, "max": rules.max_players}
                for name, rules in registered.items()
            ],
            "max_players": registered[default_game()].max_players,
            "me": me,
            "chat_max": CHAT_MAX_CHARS,
            "name_min": NAME_MIN_LEN,
            "name_max": NAME_MAX_LEN,
        },
    )


@page("GET")
def leaderboard_page(request: HttpRequest) -> HttpResponse:
    """The leaderboard of one rated mode (the first by default), rendered on the server (works
    without JavaScript); a tab per rated mode."""
    modes = rated_modes()
    mode = request.GET.get("mode", modes[0] if modes else "")
    try:
        page = whole_number(request, "page", 1)
        board = stats.leaderboard_page(mode=mode, page=page, size=PAGE_SIZE_DEFAULT)
    except UnknownMode as exc:
        raise Http404(str(exc)) from None
    except (BadRequest, BadPage) as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    return render(
        request,
        "web/leaderboard.html",
        {
            "board": board,
            "modes": modes,
            "previous_page": min(page - 1, board["pages"]) if page > 1 else None,
            "next_page": page + 1 if page < board["pages"] else None,
        },
    )
