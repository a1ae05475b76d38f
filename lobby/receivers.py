"""Reactions to other apps' signals, connected in LobbyConfig.ready()."""

from __future__ import annotations

from typing import Any

from lobby.services.ratings import ratings_apply


def rate_finished_match(sender: object, *, match_id: str, aborted: bool, **kwargs: Any) -> None:
    """Apply ratings in the transaction that records the result, so both commit or neither."""
    if not aborted:
        ratings_apply(match_id=match_id)
