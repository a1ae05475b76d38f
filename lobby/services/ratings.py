"""Skill ratings per queue mode (openskill's Plackett-Luce), applied once per finished match.

The number players see is a conservative estimate, ``mu - 3 * sigma``, scaled so a new player
shows DEFAULT_RATING: it only rises as the system grows sure of a player, so a lucky first
win does not top the leaderboard.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import NamedTuple

from django.db import transaction
from openskill.models import PlackettLuce

from gameserver.protocol.lobby import MODES, TEAM
from lobby.models import Rating, RatingChange
from match.models import Match, MatchSeat

MODEL = PlackettLuce()
DEFAULT_RATING = 1000
RATING_SCALE = 40


def rating_display(mu: float, sigma: float) -> int:
    """The displayed rating: 1000 for a new player (mu 25, sigma 25/3)."""
    return round(DEFAULT_RATING + RATING_SCALE * (mu - 3 * sigma))


class _Placed(NamedTuple):
    """A seat that counts for ratings: who played it, where it placed and what it scored."""

    seat: MatchSeat
    user_id: int
    rank: int
    score: int


def _placed_seats(match: Match) -> list[_Placed]:
    """The seats that count, by seat number; the rank is the team's in team mode.

    Seats without a user or a ranking entry are left out, as are team seats whose team has no
    rank; a user holding two seats counts once (RatingChange is one row per match and user).
    """
    result = match.result or {}
    entries = {e.get("s"): e for e in result.get("ranking") or [] if isinstance(e, dict)}
    team_ranks = {t.get("tm"): t.get("rank") for t in result.get("teams") or [] if isinstance(t, dict)}
    placed: list[_Placed] = []
    for seat in match.seats.filter(user__isnull=False).order_by("seat"):
        entry = entries.get(seat.seat)
        if entry is None or seat.user_id is None or seat.user_id in {p.user_id for p in placed}:
            continue
        rank = team_ranks.get(seat.team) if match.mode == TEAM else entry.get("rank")
        score = entry.get("sc", 0)
        if type(rank) is int:
            placed.append(_Placed(seat, seat.user_id, rank, score if type(score) is int else 0))
    return placed


def ratings_apply(*, match_id: str) -> list[RatingChange]:
    """Rate a finished queue match, at most once whoever calls it; the changes written, or [].

    The conditional UPDATE on ``Match.rated`` is the once-only guard; it and the rating rows
    commit together, so a failure leaves the match unrated rather than half-rated.
    """
    with transaction.atomic():
        claimed = Match.objects.filter(
            pk=uuid.UUID(str(match_id)), rated=False, status=Match.Status.FINISHED, mode__in=MODES
        ).update(rated=True)
        if not claimed:
            return []
        match = Match.objects.get(pk=uuid.UUID(str(match_id)))

        # Openskill teams: one per seat, or the seats of one MatchSeat.team in team mode.
        groups: dict[int, list[_Placed]] = defaultdict(list)
        for placed in _placed_seats(match):
            groups[placed.seat.team if match.mode == TEAM else placed.seat.seat].append(placed)
        if len(groups) < 2:
            return []
        members = list(groups.values())

        user_ids = sorted(p.user_id for group in members for p in group)
        Rating.objects.bulk_create(
            [
                Rating(
                    user_id=user_id,
                    mode=match.mode,
                    mu=MODEL.mu,
                    sigma=MODEL.sigma,
                    rating=rating_display(MODEL.mu, MODEL.sigma),
                )
                for user_id in user_ids
            ],
            ignore_conflicts=True,
        )
        # Locked in user order, so two matches rating the same players cannot deadlock.
        rows = {
            row.user_id: row
            for row in Rating.objects.select_for_update()
            .filter(mode=match.mode, user_id__in=user_ids)
            .order_by("user_id")
        }
        new_teams = MODEL.rate(
            [[MODEL.rating(mu=rows[p.user_id].mu, sigma=rows[p.user_id].sigma) for p in g] for g in members],
            ranks=[float(g[0].rank) for g in members],
        )

        changes: list[RatingChange] = []
        for group, new_team in zip(members, new_teams, strict=True):
            for placed, new in zip(group, new_team, strict=True):
                row = rows[placed.user_id]
                before = row.rating
                row.mu, row.sigma = new.mu, new.sigma
                row.rating = rating_display(new.mu, new.sigma)
                row.games += 1
                row.wins += 1 if placed.rank == 1 else 0
                row.save(update_fields=["mu", "sigma", "rating", "games", "wins", "updated_at"])
                changes.append(
                    RatingChange(
                        match=match,
                        user_id=row.user_id,
                        mode=match.mode,
                        seat=placed.seat.seat,
                        team=placed.seat.team,
                        rank=placed.rank,
                        score=placed.score,
                        before=before,
                        after=row.rating,
                    )
                )
        return RatingChange.objects.bulk_create(changes)
