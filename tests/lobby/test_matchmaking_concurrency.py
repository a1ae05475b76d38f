"""200 players queue at once from 200 connections, some cancelling and re-queueing: every player
ends in exactly one match or is still waiting, and no seat is given twice."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field

import pytest
from channels.db import database_sync_to_async

from match.models import MatchSeat
from tests.lobby.conftest import Player, new_player, recv

PLAYERS = 200
MODES = ("duel", "team", "ffa")
SIZES = {"duel": 2, "team": 4, "ffa": 3}  # the fewest players that still make a match here


@dataclass
class Journey:
    player: Player
    mode: str = ""
    matches: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    last_queue: dict = field(default_factory=dict)
    cancels: int = 0


async def play(journey: Journey, rng: random.Random, start: asyncio.Event, calm_after: float) -> None:
    """Queue, sometimes leave and queue again (maybe for another mode), accept every check."""
    player = journey.player
    loop = asyncio.get_running_loop()
    await start.wait()
    journey.mode = rng.choice(MODES)
    await player.send({"t": "queue_join", "mode": journey.mode})
    next_cancel = loop.time() + rng.uniform(0.05, 1.0) if rng.random() < 0.3 else None
    quiet_since = loop.time()
    while loop.time() - quiet_since < 2.0 or loop.time() < calm_after:
        if next_cancel is not None and loop.time() >= next_cancel and not journey.matches:
            next_cancel = None
            journey.cancels += 1
            await player.send({"t": "queue_leave"})
            journey.mode = rng.choice(MODES)
            await player.send({"t": "queue_join", "mode": journey.mode})
        if await player.ws.receive_nothing(timeout=0.05, interval=0.01):
            continue
        message = await recv(player.ws)
        if message["t"] != "queue":  # status pushes go on every second while waiting
            quiet_since = loop.time()
        if message["t"] == "match_found":
            await player.send({"t": "ready", "check": message["check"], "accept": True})
        elif message["t"] == "match_ready":
            journey.matches.append(message)
        elif message["t"] == "queue":
            journey.last_queue = message
        elif message["t"] == "error":
            journey.errors.append(message["code"])


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("workers")
async def test_200_concurrent_players_each_end_in_exactly_one_match_or_still_waiting(settings):
    settings.GAME_MODES = {**settings.GAME_MODES, "ffa": {**settings.GAME_MODES["ffa"], "wait": 1, "min": 3}}
    rng = random.Random(7)
    journeys = [Journey(await new_player(f"racer{i}")) for i in range(PLAYERS)]
    await asyncio.gather(*(j.player.open() for j in journeys))
    start = asyncio.Event()
    loop = asyncio.get_running_loop()
    tasks = [
        asyncio.ensure_future(play(j, random.Random(rng.random()), start, loop.time() + 3)) for j in journeys
    ]
    start.set()
    await asyncio.gather(*tasks)

    seats = await database_sync_to_async(
        lambda: list(MatchSeat.objects.filter(user__isnull=False).values_list("user_id", "match_id", "seat"))
    )()
    by_user = Counter(user for user, _, _ in seats)
    assert max(by_user.values()) == 1, "a player was given two seats"
    matched = {j.player.user_id: j for j in journeys if j.matches}
    waiting = [j for j in journeys if not j.matches]
    for journey in matched.values():
        assert len(journey.matches) == 1, f"{journey.player.name} got {len(journey.matches)} matches"
        ready = journey.matches[0]
        assert (journey.player.user_id, ready["match"], ready["seat"]) in {
            (u, str(m), s) for u, m, s in seats
        }
    assert set(by_user) == set(matched), "a seat was given to someone who was never told"
    # Nobody is lost: everyone without a match is still in a queue, and too few remain in each
    # mode to make another match.
    for journey in waiting:
        assert journey.last_queue.get("mode") == journey.mode, f"{journey.player.name} fell out of the queue"
    left = Counter(j.mode for j in waiting)
    assert all(left[mode] < SIZES[mode] for mode in MODES), f"matchable players left waiting: {left}"
    # Racing a cancel against a found match gets an answer, never a crash or a lost player.
    assert {code for j in journeys for code in j.errors} <= {
        "busy",
        "not_queued",
        "already_queued",
        "in_match",
    }
    cancels = sum(j.cancels for j in journeys)
    print(
        f"\n{PLAYERS} players, {cancels} cancelled and re-queued: {len(matched)} matched in "
        f"{len({str(m) for _, m, _ in seats})} matches, {len(waiting)} still waiting {dict(left)}"
    )
    assert cancels > 0
    for journey in journeys:
        await journey.player.close()
