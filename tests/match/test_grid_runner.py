"""The grid game hosted by the real match runner: a whole match from the joins to the
recorded result, its frames rebuilding the runner's state on a listening relay channel.

The rules object is passed to ``MatchRunner`` directly, so this needs no game registry entry.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack
import pytest
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer

from gameserver.groups import match_group
from match.games.grid import GRID
from match.games.grid import constants as c
from match.models import Match, MatchSeat
from match.runner import MatchRunner

pytestmark = pytest.mark.django_db(transaction=True)

SETTINGS = {
    "tick_hz": 60,
    "cells_per_s": 60,
    "ready_ticks": 60,
    "pause_ticks": 10,
    "score_limit": 2,
    "time_limit_ticks": 60 * 40,
}
PLAYERS: list[Any] = [{"seat": 0, "name": "ann"}, {"seat": 1, "name": "bob"}]


def create_row() -> Match:
    match = Match.objects.create(game="grid", settings=SETTINGS)
    MatchSeat.objects.bulk_create(MatchSeat(match=match, seat=p["seat"], name=p["name"]) for p in PLAYERS)
    return match


async def test_the_runner_plays_a_grid_match_to_one_recorded_result_and_its_frames_rebuild_the_state():
    """Bob turns up at the start of every round (into the top wall, while Ann rides on): the
    outcome depends on the turn arriving in the ready second, so only its shape is asserted."""
    match = await database_sync_to_async(create_row)()
    match_id = str(match.id)
    layer = InMemoryChannelLayer(capacity=100_000)
    relay = await layer.new_channel()
    await layer.group_add(match_group(match_id), relay)
    released = asyncio.Event()

    async def on_released(_match_id: str) -> None:
        released.set()

    runner = MatchRunner(
        match_id=match_id,
        rules=GRID,
        players=PLAYERS,
        settings=SETTINGS,
        seed=5,
        layer=layer,
        owner_channel="worker-test",
        join_timeout=60,
        on_released=on_released,
    )
    runner.start()
    await runner.on_join(seat=0, relay=relay, socket=1)
    await runner.on_join(seat=1, relay=relay, socket=2)

    seq = 0

    def turn_up() -> None:
        nonlocal seq
        seq += 1
        runner.on_input(seat=1, fields={"t": "input", "seq": seq, "dir": c.UP})

    snapshot: dict[str, Any] | None = None
    ticks: list[int] = []
    phases: list[str] = []
    end: dict[str, Any] | None = None
    while end is None:
        event = await asyncio.wait_for(layer.receive(relay), 30)
        message = msgpack.unpackb(event["frame"])
        if message["t"] == "snapshot" and snapshot is None:
            assert message["seat"] == 0
            snapshot = message["state"]
            turn_up()
        elif message["t"] == "frame":
            assert snapshot is not None
            assert message["tick"] == (ticks[-1] if ticks else snapshot["tick"]) + 1, "frames in order"
            ticks.append(message["tick"])
            snapshot = GRID.apply_delta(snapshot, message["d"])
            if any(e[0] == "start" for e in message["ev"]):
                turn_up()
        elif message["t"] == "phase":
            phases.append(message["phase"])
        elif message["t"] == "end":
            end = message
    await asyncio.wait_for(released.wait(), 10)

    assert GRID.is_over(runner.state)
    assert snapshot == GRID.snapshot(runner.state), "snapshot + every frame == the runner's state"
    result = GRID.result(runner.state)
    assert end["result"] == result
    assert end["tick"] == ticks[-1] == result["tick"]
    assert "running" in phases
    assert result["reason"] in ("score", "time")
    ranking: Any = result["ranking"]
    assert sorted(e["s"] for e in ranking) == [0, 1]
    if result["reason"] == "score":
        assert ranking[0]["sc"] == 2
        assert ranking[0]["rank"] == 1
        assert ranking[1]["rank"] == 2
    assert GRID.acks(runner.state)[1] == seq
    row = await database_sync_to_async(Match.objects.get)(pk=match_id)
    assert row.status == Match.Status.FINISHED
    assert row.result == result
    assert row.ticks == result["tick"]
