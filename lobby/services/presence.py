"""Who is online, as the database knows it (the matchmaker holds the live view and writes it
here so that HTTP requests, such as the guest-name check, can see it)."""

from __future__ import annotations

from django.utils import timezone

from lobby.models import Player


def presence_reset() -> int:
    """Forget every online mark: a (re)started matchmaker rebuilds presence from the sockets."""
    return Player.objects.filter(online_since__isnull=False).update(online_since=None)


def presence_set(*, changes: list[tuple[int, bool]]) -> None:
    """Apply (user id, online) changes in order."""
    now = timezone.now()
    for user_id, online in changes:
        Player.objects.filter(pk=user_id).update(online_since=now if online else None)
