"""Reactions to other apps' signals, connected in LobbyConfig.ready()."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

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
