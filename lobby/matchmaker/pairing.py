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


@dataclass(frozen=True)
class Mode:
    """A queue mode as ``settings.GAME_MODES`` describes it (read and checked by lobby.modes).

    ``players`` make a full match, in teams of ``team_size`` (1: every player for themselves,
    no teams); parties of up to ``party`` queue together; once the oldest ticket has waited
    ``wait`` seconds a smaller match of at least ``min_players`` may start (only without teams;
    ``min_players == players``: never).
    """

    name: str
    game: str
    players: int
    team_size: int = 1
    party: int = 1
    min_players: int = 0  # 0: ``players``
    wait: int = 0
    rated: bool = True

    def __post_init__(self) -> None:
        if not self.min_players:
            object.__setattr__(self, "min_players", self.players)

    @property
    def teams(self) -> int:
        """Sides in a full match: the number of teams, or of players without teams."""
        return self.players // self.team_size

    @property
    def has_teams(self) -> bool:
        """Whether the seats carry team numbers (a team of one is just a player)."""
        return self.team_size > 1


@dataclass(frozen=True)
class PairingConfig:
    window_start: int
    window_growth: int
    window_max: int


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


def find_group(queue: Sequence[Ticket], mode: Mode, now: float, config: PairingConfig) -> list[Ticket] | None:
    """The first group of tickets that makes a match in ``mode``, anchored on the oldest."""
    need = mode.players
    # Sorted by rating once, so each anchor looks only at the tickets inside its window
    # (a bisect), not at the whole queue: a pass stays cheap with thousands waiting.
    by_rating = sorted(queue, key=lambda t: t.rating)
    keys = [t.rating for t in by_rating]
    for anchor in sorted(queue, key=lambda t: (t.since, t.id)):
        reach = window(anchor, now, config)
        low = bisect.bisect_left(keys, anchor.rating - reach)
        high = bisect.bisect_right(keys, anchor.rating + reach)
        if sum(t.size for t in by_rating[low:high]) < mode.min_players:
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
        # A smaller match after the wait, but never a party alone against itself.
        if (
            mode.min_players < need
            and now - anchor.since >= mode.wait
            and count >= mode.min_players
            and len(chosen) > 1
        ):
            return chosen
    return None


def players_needed(queue: Sequence[Ticket], mode: Mode, now: float) -> int:
    """Players the mode's next match needs now: a full match, or ``min_players`` once the
    longest-waiting ticket has waited ``wait`` seconds (what a queue status shows as ``need``)."""
    if mode.min_players < mode.players and queue and now - min(t.since for t in queue) >= mode.wait:
        return mode.min_players
    return mode.players


def split_teams(group: Sequence[Ticket], mode: Mode) -> list[list[int]]:
    """Players by team. Parties stay on one team; teams are balanced by summed rating.

    Without teams, one list per player (every player for themselves).
    """
    if not mode.has_teams:
        return [[m] for t in group for m in t.members]
    ratings = {m: r for t in group for m, r in t.ratings.items()}
    best: tuple[int, list[list[int]]] | None = None
    # The first ticket always goes to team 0: the other placements are the same splits renamed.
    for picks in itertools.product(range(mode.teams), repeat=len(group) - 1):
        teams: list[list[int]] = [[] for _ in range(mode.teams)]
        for ticket, side in zip(group, (0, *picks), strict=True):
            teams[side].extend(ticket.members)
        if any(len(team) != mode.team_size for team in teams):
            continue
        sums = [sum(ratings[m] for m in team) for team in teams]
        gap = max(sums) - min(sums)
        if best is None or gap < best[0]:
            best = (gap, teams)
    if best is None:
        raise ValueError(f"tickets of sizes {[t.size for t in group]!r} cannot form {mode.name!r} teams")
    return best[1]


def balance(players: Sequence[int], ratings: dict[int, int], teams: int = 2) -> list[list[int]]:
    """``teams`` teams of equal size (``len(players)`` a multiple of it) with the closest summed
    ratings: the smallest gap between the strongest and the weakest team."""
    size = len(players) // teams
    if size < 1 or size * teams != len(players):
        raise ValueError(f"{len(players)} players cannot form {teams} teams of equal size")

    def splits(rest: list[int], left: int) -> list[list[list[int]]]:
        if left == 1:
            return [[rest]]
        # The first remaining player anchors the next team, so no split is counted twice.
        found = []
        for others in itertools.combinations(rest[1:], size - 1):
            team = [rest[0], *others]
            remaining = [p for p in rest if p not in team]
            found += [[team, *more] for more in splits(remaining, left - 1)]
        return found

    best: tuple[int, list[list[int]]] | None = None
    for split in splits(list(players), teams):
        sums = [sum(ratings.get(p, 0) for p in team) for team in split]
        gap = max(sums) - min(sums)
        if best is None or gap < best[0]:
            best = (gap, split)
    assert best is not None
    return best[1]
