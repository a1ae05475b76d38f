"""Matches the lobby makes: from an accepted ready check (rated) or a room (unrated)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from gameserver.protocol import lobby as lp
from lobby.modes import game_modes
from match.services import SeatSpec, match_create
from match.tickets import ticket_issue

ROOM_MODE = "room"  # Match.mode of room matches: never rated


def lobby_match_create(
    *, mode: str, teams: list[list[int]], names: dict[int, str], rated: bool, game: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Create the match with one seat per player; return its id and each player's
    ``match_ready``. It plays ``game`` (a room's pick), by default the mode's game.

    Seats carry their team only in a mode with teams; otherwise every player is for themselves.
    """
    spec = game_modes()[mode]
    teamed = spec.has_teams
    seats: list[SeatSpec] = [
        SeatSpec(name=names[user_id], user_id=user_id, team=index if teamed else -1)
        for index, team in enumerate(teams)
        for user_id in team
    ]
    match = match_create(seats=seats, game=game or spec.game, mode=mode if rated else ROOM_MODE)
    ready = [
        {
            "user_id": spec["user_id"],
            "message": lp.match_ready_message(
                match_id=str(match.id),
                mode=mode,
                seat=seat,
                team=spec["team"],
                ticket=ticket_issue(match_id=str(match.id), seat=seat, user_id=spec["user_id"]),
                expires_in=settings.MATCH_TICKET_TTL,
            ),
        }
        for seat, spec in enumerate(seats)
    ]
    return str(match.id), ready
