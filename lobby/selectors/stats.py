"""Reads of ratings: per-user numbers for the matchmaker, leaderboards, player profiles."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from django.db.models import F

from lobby.models import Player, Rating, RatingChange
from lobby.modes import rated_modes
from lobby.services.ratings import DEFAULT_RATING

RECENT_CHANGES = 20
PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAX = 100


class UnknownMode(ValueError):
    """A mode that has no ratings (not a rated mode of settings.GAME_MODES)."""


class BadPage(ValueError):
    """A leaderboard page number below 1 or a page size outside 1..PAGE_SIZE_MAX."""


def _check_mode(mode: str) -> None:
    modes = rated_modes()
    if mode not in modes:
        raise UnknownMode(f"mode must be one of {modes!r}, got {mode!r}")


def ratings_for(*, user_ids: Iterable[int], mode: str) -> dict[int, int]:
    """Displayed rating per user in ``mode``; DEFAULT_RATING for users who never played it."""
    ratings = dict.fromkeys(user_ids, DEFAULT_RATING)
    rows = Rating.objects.filter(mode=mode, user_id__in=list(ratings)).values_list("user_id", "rating")
    ratings.update(rows)
    return ratings


def ratings_of(*, user_id: int) -> dict[str, int]:
    """Displayed rating in every rated mode, DEFAULT_RATING where the user has not played."""
    modes = rated_modes()
    ratings = dict.fromkeys(modes, DEFAULT_RATING)
    ratings.update(Rating.objects.filter(user_id=user_id, mode__in=modes).values_list("mode", "rating"))
    return ratings


def leaderboard_page(*, mode: str, page: int, size: int) -> dict[str, Any]:
    """One page of players with a game in ``mode``, best first; rank is the absolute position.

    Ties on rating go to the player with more games, then to the older account, so the order
    (and every rank) is stable between requests.
    """
    _check_mode(mode)
    if page < 1:
        raise BadPage(f"page must be at least 1, got {page!r}")
    if not 1 <= size <= PAGE_SIZE_MAX:
        raise BadPage(f"size must be in 1..{PAGE_SIZE_MAX}, got {size!r}")
    board = Rating.objects.filter(mode=mode, games__gt=0)
    total = board.count()
    start = (page - 1) * size
    rows = (
        board.order_by("-rating", "-games", "user_id")
        .values("user_id", "rating", "games", "wins", "losses", "draws", "user__username")
        .annotate(name=F("user__player__name"), guest=F("user__player__is_guest"))[start : start + size]
        if start < total
        else []
    )
    return {
        "mode": mode,
        "page": page,
        "size": size,
        "total": total,
        "pages": max(1, math.ceil(total / size)),
        "entries": [
            {
                "rank": start + index + 1,
                "player": {
                    "id": row["user_id"],
                    "name": row["name"] or row["user__username"],
                    "guest": bool(row["guest"]),
                },
                "rating": row["rating"],
                "games": row["games"],
                "wins": row["wins"],
                "losses": row["losses"],
                "draws": row["draws"],
            }
            for index, row in enumerate(rows)
        ],
    }


def player_profile(*, player_id: int) -> dict[str, Any] | None:
    """A player's ratings in every rated mode and last rated matches; None if there is no such
    Player."""
    player = Player.objects.filter(pk=player_id).first()
    if player is None:
        return None
    modes = rated_modes()
    ratings = {
        mode: {"rating": DEFAULT_RATING, "games": 0, "wins": 0, "losses": 0, "draws": 0} for mode in modes
    }
    for row in Rating.objects.filter(user_id=player_id, mode__in=modes):
        ratings[row.mode] = {
            "rating": row.rating,
            "games": row.games,
            "wins": row.wins,
            "losses": row.losses,
            "draws": row.draws,
        }
    recent = RatingChange.objects.filter(user_id=player_id).order_by("-created_at", "-id")[:RECENT_CHANGES]
    return {
        "player": {"id": player.pk, "name": player.name, "guest": player.is_guest},
        "ratings": ratings,
        "recent": [
            {
                "match": str(change.match_id),
                "mode": change.mode,
                "rank": change.rank,
                "outcome": change.outcome,
                "score": change.score,
                "team": change.team,
                "before": change.before,
                "after": change.after,
                "at": change.created_at.isoformat(),
            }
            for change in recent
        ],
    }


def rating_changes_of_match(*, match_id: str) -> list[dict[str, Any]]:
    """Each player's rating change in one match (empty until the match is rated)."""
    rows = RatingChange.objects.filter(match_id=match_id).values(
        "user_id", "mode", "before", "after", "rank", "outcome", "skill"
    )
    return [dict(row) for row in rows]
