"""Group and named-channel names, from one place (channel names allow [a-zA-Z0-9._-], < 100)."""

# Named channel the tick workers consume (with channels-redis: a work queue, one worker each).
TICK_CHANNEL = "match-tick"


def match_group(match_id: str) -> str:
    """Everyone watching a match: receives every frame."""
    return f"match-{match_id}"


def match_owner_group(match_id: str) -> str:
    """The tick worker that owns a match: receives joins, leaves and inputs."""
    return f"match-{match_id}-owner"


def match_seat_group(match_id: str, seat: int) -> str:
    """The connection(s) of one seat, so a newer connection can replace an older one."""
    return f"match-{match_id}-seat-{seat}"
