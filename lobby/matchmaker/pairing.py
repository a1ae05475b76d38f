"""Pure matchmaking: which queued tickets make a match, and how to split them into teams.

No Django, no clock, no I/O: the worker passes ``now`` in, so tests drive time by hand.
The oldest ticket anchors each attempt (it has waited longest, so its window is widest and it
cannot starve); candidates within the anchor's rating window are taken closest-first.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from gameserver.protocol.lobby import DUEL, FFA, TEAM

# Players per match and per team, by mode (ffa: up to 8, no teams).
MATCH_SIZE = {DUEL: 2, TEAM: 4, FFA: 8}
TEAM_SIZE = {DUEL: 1, TEAM: 2, FFA: 1}


@dataclass(frozen=True)
class PairingConfig:
    window_start: int
    window_growth: int
    window_max: int
    ffa_wait: float
    ffa_min: int


@dataclass
class Ticket:
    """One queue entry: a solo player or a whole party, matched together."""

    id: int
    mode: str
    members: list[int]
    ratings: dict[int, int]
    since: float  # when it joined; kept when it goes back to the front after a ready check
    party_id: int = 0
    last_status: float = field(default=float("-inf"))

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def rating(self) -> int:
        return round(sum(self.ratings[m] for m in self.members) / len(self.members))


def window(ticket: Ticket, now: float, config: PairingConfig) -> int:
    """The rating distance this ticket accepts after waiting ``now - since`` seconds."""
    waited = max(0.0, now - ticket.since)
    return min(config.window_max, round(config.window_start + config.window_growth * waited))


def find_group(queue: Sequence[Ticket], mode: str, now: float, config: PairingConfig) -> list[Ticket] | None:
    """The first group of tickets that makes a match in ``mode``, anchored on the oldest."""
    need = MATCH_SIZE[mode]
    # Sorted by rating once, so each anchor looks only at the tickets inside its window
    # (a bisect), not at the whole queue: a pass stays cheap with thousands waiting.
    by_rating = sorted(queue, key=lambda t: t.rating)
    keys = [t.rating for t in by_rating]
    for anchor in sorted(queue, key=lambda t: (t.since, t.id)):
        reach = window(anchor, now, config)
        low = bisect.bisect_left(keys, anchor.rating - reach)
        high = bisect.bisect_right(keys, anchor.rating + reach)
        least = config.ffa_min if mode == FFA else need
        if sum(t.size for t in by_rating[low:high]) < least:
            continue
        candidates = sorted(
            (t for t in by_rating[low:high] if t is not anchor),
            key=lambda t: (abs(t.rating - anchor.rating), t.since, t.id),
        )
        chosen = [anchor]
        count = anchor.size
        for ticket in candidates:
            if count == need:
                break
            if count + ticket.size <= need:
                chosen.append(ticket)
                count += ticket.size
        if count == need and len(chosen) > 1:
            return chosen
        # A smaller free-for-all after the wait, but never a party alone against itself.
        if (
            mode == FFA
            and now - anchor.since >= config.ffa_wait
            and count >= config.ffa_min
            and len(chosen) > 1
        ):
            return chosen
    return None


def split_teams(group: Sequence[Ticket], mode: str) -> list[list[int]]:
    """Players by team. Parties stay on one team; teams are balanced by summed rating.

    Duel and team modes give two teams; ffa gives one list per player (no teams).
    """
    if mode == FFA:
        return [[m] for t in group for m in t.members]
    size = TEAM_SIZE[mode]
    best: tuple[int, list[list[int]]] | None = None
    for picks in itertools.product((0, 1), repeat=len(group)):
        teams: list[list[int]] = [[], []]
        for ticket, side in zip(group, picks, strict=True):
            teams[side].extend(ticket.members)
        if len(teams[0]) != size or len(teams[1]) != size:
            continue
        ratings = {m: r for t in group for m, r in t.ratings.items()}
        gap = abs(sum(ratings[m] for m in teams[0]) - sum(ratings[m] for m in teams[1]))
        if best is None or gap < best[0]:
            best = (gap, teams)
    if best is None:
        raise ValueError(f"tickets of sizes {[t.size for t in group]!r} cannot form {mode!r} teams")
    return best[1]


def balance(players: Sequence[int], ratings: dict[int, int]) -> list[list[int]]:
    """Two teams of equal size (players in even number) with the closest summed ratings."""
    size = len(players) // 2
    best: tuple[int, list[list[int]]] | None = None
    for first in itertools.combinations(players, size):
        second = [p for p in players if p not in first]
        gap = abs(sum(ratings.get(p, 0) for p in first) - sum(ratings.get(p, 0) for p in second))
        if best is None or gap < best[0]:
            best = (gap, [list(first), second])
    assert best is not None, "balance() needs at least two players"
    return best[1]
