"""Reads for accounts: who a bearer token stands for, and what others may see of a player."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from lobby.models import AuthToken, Player
from lobby.services.accounts import token_hash


def token_user(*, token: str) -> User | None:
    """The active user ``token`` was issued to, or None if it is unknown or expired."""
    stored = (
        AuthToken.objects.select_related("user")
        .filter(key_hash=token_hash(token=token), expires_at__gt=timezone.now())
        .first()
    )
    if stored is None or not stored.user.is_active:
        return None
    return stored.user


def player_public(*, player: Player) -> dict[str, Any]:
    """The fields any client may see of a player (never the username of a guest)."""
    return {"id": player.pk, "name": player.name, "guest": player.is_guest}
