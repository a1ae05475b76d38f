"""Skill ratings per rated queue mode (openskill's Plackett-Luce), applied once per finished match.

The number players see is a conservative estimate, ``mu - 3 * sigma``, scaled so a new player
shows DEFAULT_RATING: it only rises as the system grows sure of a player, so a lucky first
win does not top the leaderboard. That is also why it rises after a draw between equals (mu
stays, sigma shrinks): every change is recorded as its ``skill`` part (mu moving: the result)
and the rest (sigma shrinking: certainty), and its outcome (win, loss, draw or place), so a
draw never reads as a win.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import NamedTuple

from django.db import transaction
from openskill.models import PlackettLuce

from gameserver.protocol import lobby as lp
from lobby.models import Rating, RatingChange
from lobby.modes import game_modes, rated_modes
from match.models import Match, MatchSeat

MODEL = PlackettLuce()
DEFAULT_RATING = 1000
RATING_SCALE = 40


def rating_display(mu: float, sigma: float) -> int:
    """The displayed rating: 1000 for a new player (mu 25, sigma 25/3)."""
    return round(DEFAULT_RATING + RATING_SCALE * (mu - 3 * sigma))


def skill_part(mu_before: float, mu_after: float) -> int:
    """The part of a displayed change that the result made (mu moving); the rest of it is the
    system growing surer of the player (sigma shrinking)."""
    return round(RATING_SCALE * (mu_after - mu_before))


def outcome(rank: int, ranks: list[int]) -> str:
    """How a match went for a side placed ``rank``, given every side's rank (lower is better).

    First place alone is a win; first place shared (by everyone, or in free-for-all by some)
    a draw; any other place a loss when there were two sides, else a placing (``rank`` says
    which). Wins, draws and losses are counted apart; a placing counts as a loss.
    """
    best = min(ranks)
    if rank == best:
        return lp.OUTCOME_WIN if ranks.count(best) == 1 else lp.OUTCOME_DRAW
    return lp.OUTCOME_LOSS if len(ranks) == 2 else lp.OUTCOME_PLACE


class _Placed(NamedTuple):
    """A seat that counts for ratings: who played it, where it placed and what it scored."""

    seat: MatchSeat
    user_id: int
    rank: int
    score: int


def _placed_seats(match: Match, teamed: bool) -> list[_Placed]:
    """The seats that count, by seat number; the rank is the team's in a mode with teams.

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
        rank = team_ranks.get(seat.team) if teamed else entry.get("rank")
        score = entry.get("sc", 0)
        if type(rank) is int:
            placed.append(_Placed(seat, seat.user_id, rank, score if type(score) is int else 0))
    return placed


def _side_ranks(match: Match, teamed: bool) -> list[int]:
    """Every side's rank in the result (teams in a mode with teams, else seats), rated or not:
    first place is the match's, even when a seat without an account took it."""
    result = match.result or {}
    sides = result.get("teams") if teamed else result.get("ranking")
    return [s["rank"] for s in sides or [] if isinstance(s, dict) and type(s.get("rank")) is int]


def ratings_apply(*, match_id: str) -> list[RatingChange]:
    """Rate a finished queue match, at most once whoever calls it; the changes written, or [].

    The conditional UPDATE on ``Match.rated`` is the once-only guard; it and the rating rows
    commit together, so a failure leaves the match unrated rather than half-rated.
    """
    with transaction.atomic():
        claimed = Match.objects.filter(
            pk=uuid.UUID(str(match_id)), rated=False, status=Match.Status.FINISHED, mode__in=rated_modes()
        ).update(rated=True)
        if not claimed:
            return []
        match = Match.objects.get(pk=uuid.UUID(str(match_id)))
        teamed = game_modes()[match.mode].has_teams

        # Openskill teams: one per seat, or the seats of one MatchSeat.team in a mode with teams.
        groups: dict[int, list[_Placed]] = defaultdict(list)
        for placed in _placed_seats(match, teamed):
            groups[placed.seat.team if teamed else placed.seat.seat].append(placed)
        if len(groups) < 2:
            return []
        members = list(groups.values())
        ranks = _side_ranks(match, teamed) or [g[0].rank for g in members]

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
                before, mu_before = row.rating, row.mu
                row.mu, row.sigma = new.mu, new.sigma
                row.rating = rating_display(new.mu, new.sigma)
                result = outcome(placed.rank, ranks)
                row.games += 1
                row.wins += result == lp.OUTCOME_WIN
                row.draws += result == lp.OUTCOME_DRAW
                row.losses += result in (lp.OUTCOME_LOSS, lp.OUTCOME_PLACE)
                row.save(
                    update_fields=["mu", "sigma", "rating", "games", "wins", "losses", "draws", "updated_at"]
                )
                changes.append(
                    RatingChange(
                        match=match,
                        user_id=row.user_id,
                        mode=match.mode,
                        seat=placed.seat.seat,
                        team=placed.seat.team,
                        rank=placed.rank,
                        outcome=result,
                        score=placed.score,
                        before=before,
                        after=row.rating,
                        skill=skill_part(mu_before, new.mu),
                    )
                )
        return RatingChange.objects.bulk_create(changes)
