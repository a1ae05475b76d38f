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


# Named channel of the matchmaker (one consumer: it owns presence, parties, queues, rooms).
MATCHMAKER_CHANNEL = "matchmaker"


def lobby_group() -> str:
    """Every lobby connection: presence, chat and room-list broadcasts."""
    return "lobby"


def lobby_user_group(user_id: int) -> str:
    """All lobby connections of one player (two tabs are one player)."""
    return f"lobby-user-{user_id}"
