"""Players (accounts and guests), API tokens, ratings per mode, rating history, lobby chat."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Player(models.Model):
    """The game-facing side of a Django user: display name, guest or registered, presence."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="player"
    )
    name = models.CharField(max_length=16)
    # Normalised form of the name (case, separators and look-alike characters folded): two
    # names with the same key would let one player pass for another.
    name_key = models.CharField(max_length=16, db_index=True)
    is_guest = models.BooleanField(default=False)
    # Set by the matchmaker while the player has at least one lobby connection.
    online_since = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["name_key"], condition=models.Q(is_guest=False), name="unique_registered_name"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({'guest' if self.is_guest else 'registered'} #{self.pk})"


class AuthToken(models.Model):
    """A bearer token for non-browser clients; only its SHA-256 is stored."""

    key_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="auth_tokens")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"token of user {self.user_id} until {self.expires_at:%Y-%m-%d %H:%M}"


class Rating(models.Model):
    """One player's skill in one mode (openskill's mu and sigma) and the number shown for it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ratings")
    mode = models.CharField(max_length=16)
    mu = models.FloatField()
    sigma = models.FloatField()
    # The displayed, leaderboard-ordered rating: a conservative estimate (see lobby.ratings).
    rating = models.IntegerField(db_index=True)
    # Rated matches, split by outcome (lobby.services.ratings): games == wins + losses + draws.
    games = models.PositiveIntegerField(default=0)
    wins = models.PositiveIntegerField(default=0)
    losses = models.PositiveIntegerField(default=0)
    draws = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "mode"], name="one_rating_per_mode")]
        indexes = [models.Index(fields=["mode", "-rating"], name="leaderboard")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.mode}: {self.rating}"


class RatingChange(models.Model):
    """Match history: a player's place and rating change in one rated match (written once)."""

    match = models.ForeignKey("match.Match", on_delete=models.CASCADE, related_name="rating_changes")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rating_changes"
    )
    mode = models.CharField(max_length=16)
    seat = models.PositiveSmallIntegerField()
    team = models.SmallIntegerField(default=-1)
    rank = models.PositiveSmallIntegerField()
    # "win", "loss", "draw" or "place" (gameserver.protocol.lobby.OUTCOMES).
    outcome = models.CharField(max_length=8, default="")
    score = models.IntegerField(default=0)
    before = models.IntegerField()
    after = models.IntegerField()
    # The part of ``after - before`` that comes from the skill estimate (mu) moving; the rest is
    # the estimate's uncertainty (sigma) shrinking. 0 for changes made before it was recorded.
    skill = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["match", "user"], name="one_change_per_match")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.match_id}: {self.before} -> {self.after}"


class ChatMessage(models.Model):
    """Lobby chat, kept so a player joining sees the last messages."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    name = models.CharField(max_length=16)
    text = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.name}: {self.text[:40]}"
