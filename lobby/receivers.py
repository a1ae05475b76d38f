"""Reactions to other apps' signals, connected in LobbyConfig.ready()."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from lobby.services.accounts import sockets_sign_out
from lobby.services.ratings import ratings_apply

log = logging.getLogger(__name__)


def rate_finished_match(sender: object, *, match_id: str, aborted: bool, **kwargs: Any) -> None:
    """Apply ratings in the transaction that records the result, inside a savepoint: a failure
    in the ratings never loses the result (the match stays unrated and can be rated later)."""
    if aborted:
        return
    try:
        with transaction.atomic():
            ratings_apply(match_id=match_id)
    except Exception:
        log.exception("ratings for match %s failed; the result is kept, the match stays unrated", match_id)


def close_session_sockets(sender: object, *, request: Any, user: Any, **kwargs: Any) -> None:
    """A logout ends the session's open sockets too, not only its next requests."""
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        sockets_sign_out(group=f"auth-session-{key}")
