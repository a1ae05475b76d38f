"""Reads of matches (HackSoft style: selectors read, services write)."""

import uuid

from match.models import Match
from match.rules import PlayerSpec


def match_get(*, match_id: str | uuid.UUID) -> Match | None:
    """The match with its seats, or None for an unknown or malformed id."""
    try:
        key = uuid.UUID(str(match_id))
    except ValueError:
        return None
    return Match.objects.prefetch_related("seats").filter(pk=key).first()


def match_players(*, match: Match) -> list[PlayerSpec]:
    """Seats in the form the game rules take: ``[{"seat": 0, "name": "..."}, ...]``."""
    specs = []
    for s in match.seats.all():
        spec = PlayerSpec(seat=s.seat, name=s.name)
        if s.team >= 0:
            spec["team"] = s.team
        specs.append(spec)
    return specs
