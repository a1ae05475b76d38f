"""Matches and their seats; the simulation state itself lives only in the tick worker."""

import secrets
import uuid

from django.conf import settings
from django.db import models


def new_seed() -> int:
    """A random 62-bit seed: fits a signed BigIntegerField on every database."""
    return secrets.randbits(62)


class Match(models.Model):
    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting for players"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        ABORTED = "aborted", "Aborted"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    game = models.CharField(max_length=32, default="arena")
    mode = models.CharField(max_length=32, default="custom")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.WAITING, db_index=True)
    seed = models.BigIntegerField(default=new_seed)
    # The tick worker channel that claimed the match; claimed once, so a re-sent
    # ``match.start`` can never start a second simulation of the same match.
    owner = models.CharField(max_length=100, blank=True, default="")
    settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ticks = models.PositiveIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    # Ratings were applied for this match (set in the same transaction as the rating changes).
    rated = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "matches"

    def __str__(self) -> str:
        return f"{self.game}/{self.mode} {self.id} ({self.status})"

    @property
    def is_over(self) -> bool:
        return self.status in {self.Status.FINISHED, self.Status.ABORTED}


class MatchSeat(models.Model):
    """One player's place in a match; tickets name a seat, results are read per seat."""

    match = models.ForeignKey(Match, on_delete=models.CASCADE, related_name="seats")
    seat = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=32)
    # The account playing this seat (null in custom matches made through /api/matches/).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="seats"
    )
    # -1 in modes without teams.
    team = models.SmallIntegerField(default=-1)
    # sha256 of the seat's resume key, set by the first connection a ticket admits: from then on
    # only the resume credential (match/tickets.py) opens the seat, so a ticket is no bearer link.
    resume_hash = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["match", "seat"]
        constraints = [models.UniqueConstraint(fields=["match", "seat"], name="unique_seat_per_match")]

    def __str__(self) -> str:
        return f"{self.match_id} seat {self.seat} ({self.name})"
