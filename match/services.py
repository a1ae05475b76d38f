"""Writes for matches: creation with tickets, and the status changes the tick worker makes.

Status changes are conditional UPDATEs, so each happens at most once however many workers
or retries race on it (the result is written exactly once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gameserver.groups import TICK_CHANNEL
from gameserver.text import strip_control
from match.games import default_game, get_game
from match.models import Match, MatchSeat
from match.signals import match_finished
from match.tickets import ticket_issue

NAME_MAX_LEN = 16


class SeatSpec(TypedDict):
    """A seat the lobby fills: who plays it and on which team (-1: no teams)."""

    name: str
    user_id: int
    team: int


class InvalidMatchRequest(ValueError):
    """A match cannot be created as asked (player count, names or limits out of range)."""


def clean_name(raw: object) -> str:
    """Strip control characters and surrounding space; refuse empty or over-long names."""
    if not isinstance(raw, str):
        raise InvalidMatchRequest(f"a player name must be a string, got {raw!r}")
    name = strip_control(raw)
    if not 1 <= len(name) <= NAME_MAX_LEN:
        raise InvalidMatchRequest(f"a player name must be 1 to {NAME_MAX_LEN} characters, got {raw!r}")
    return name


def _bounded(value: object, default: int, bounds: tuple[int, int], field: str) -> int:
    if value is None:
        return default
    low, high = bounds
    if type(value) is not int or not low <= value <= high:
        raise InvalidMatchRequest(f"{field} must be an integer in {low}..{high}, got {value!r}")
    return value


def match_create(
    *,
    players: object = None,
    names: list[object] | None = None,
    game: str | None = None,
    mode: str = "custom",
    score_limit: object = None,
    time_limit: object = None,
    seats: Sequence[SeatSpec] | None = None,
) -> Match:
    """Create a waiting match of ``game`` (default: the first registered) with named seats;
    ``players`` defaults to the game's fewest, time_limit is in seconds; score_limit defaults to
    the game's own ``default_score_limit`` if it has one, else MATCH_SCORE_LIMIT. ``seats`` (from the
    lobby) names the account and team of every seat instead of ``players``/``names``."""
    game = default_game() if game is None else game
    rules = get_game(game)
    if seats is not None:
        players = len(seats)
    elif players is None:
        players = rules.min_players
    if type(players) is not int or not rules.min_players <= players <= rules.max_players:
        raise InvalidMatchRequest(
            f"players must be an integer in {rules.min_players}..{rules.max_players}, got {players!r}"
        )
    given = list(names or []) if seats is None else [spec["name"] for spec in seats]
    if len(given) > players:
        raise InvalidMatchRequest(f"{len(given)} names given for {players} players")
    seat_names = [clean_name(n) for n in given] + [
        f"Player {seat + 1}" for seat in range(len(given), players)
    ]
    hz = settings.TICK_HZ
    match_settings: dict[str, Any] = {
        "tick_hz": hz,
        "score_limit": _bounded(
            score_limit,
            getattr(rules, "default_score_limit", settings.MATCH_SCORE_LIMIT),
            settings.MATCH_SCORE_LIMIT_RANGE,
            "score_limit",
        ),
        "time_limit_ticks": hz
        * _bounded(time_limit, settings.MATCH_TIME_LIMIT, settings.MATCH_TIME_LIMIT_RANGE, "time_limit"),
    }
    with transaction.atomic():
        match = Match.objects.create(game=game, mode=mode, settings=match_settings)
        MatchSeat.objects.bulk_create(
            MatchSeat(
                match=match,
                seat=seat,
                name=name,
                user_id=seats[seat]["user_id"] if seats is not None else None,
                team=seats[seat]["team"] if seats is not None else -1,
            )
            for seat, name in enumerate(seat_names)
        )
    return match


def match_tickets(*, match: Match) -> list[dict[str, Any]]:
    """One signed ticket per seat, with the page link that uses it."""
    return [
        {
            "seat": seat.seat,
            "name": seat.name,
            "ticket": (ticket := ticket_issue(match_id=str(match.id), seat=seat.seat, user_id=seat.user_id)),
            "url": f"/?match={match.id}&ticket={ticket}",
        }
        for seat in match.seats.all()
    ]


async def amatch_request_start(*, match_id: str) -> None:
    """Hand the match to a tick worker (one worker takes each message from the named channel)."""
    layer = get_channel_layer()
    assert layer is not None, "CHANNEL_LAYERS must be configured"
    await layer.send(TICK_CHANNEL, {"type": "match.start", "match_id": str(match_id)})


def match_request_start(*, match_id: str) -> None:
    async_to_sync(amatch_request_start)(match_id=match_id)


def seat_claim(*, match_id: str, seat: int, resume_hash: str) -> bool:
    """The first connection of a seat claims it (one conditional UPDATE, so of two racing
    openers of one ticket exactly one wins); False if someone already has."""
    return bool(
        MatchSeat.objects.filter(match_id=match_id, seat=seat, resume_hash="").update(resume_hash=resume_hash)
    )


def match_claim(*, match_id: str, owner: str) -> bool:
    """Let exactly one tick worker own a waiting match."""
    return bool(Match.objects.filter(pk=match_id, status=Match.Status.WAITING, owner="").update(owner=owner))


def match_mark_running(*, match_id: str) -> bool:
    return bool(
        Match.objects.filter(pk=match_id, status=Match.Status.WAITING).update(
            status=Match.Status.RUNNING, started_at=timezone.now()
        )
    )


def match_take_over(*, match_id: str, owner: str) -> bool:
    """A tick worker that took a match's lease becomes its owner of record, so that a stalled
    former owner can no longer write its result (``match_finish`` with ``owner``)."""
    return bool(
        Match.objects.filter(pk=match_id, status__in=[Match.Status.WAITING, Match.Status.RUNNING]).update(
            owner=owner
        )
    )


def match_finish(
    *, match_id: str, result: dict[str, Any], ticks: int, aborted: bool = False, owner: str | None = None
) -> bool:
    """Record the result; True only for the one call that actually wrote it. With ``owner``,
    only while that tick worker is the match's owner of record (fenced)."""
    status = Match.Status.ABORTED if aborted else Match.Status.FINISHED
    rows = Match.objects.filter(pk=match_id, status__in=[Match.Status.WAITING, Match.Status.RUNNING])
    if owner is not None:
        rows = rows.filter(owner=owner)
    with transaction.atomic():
        written = bool(rows.update(status=status, result=result, ticks=ticks, ended_at=timezone.now()))
        if written:
            match_finished.send(sender=Match, match_id=str(match_id), result=result, aborted=aborted)
    return written
