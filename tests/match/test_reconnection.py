"""A dropped player keeps the seat for the grace period, may resume it, else forfeits."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from gameserver.edge.relay import Relay
from gameserver.groups import match_owner_group
from match import runner
from match.models import Match
from tests.match.conftest import create_match, join, recv_until, resume, send

pytestmark = pytest.mark.django_db(transaction=True)


async def running_duel(**overrides):
    match = await create_match(players=2, **overrides)
    a = await join(match, 0)
    await recv_until(a, "snapshot")
    b = await join(match, 1)
    await recv_until(b, "snapshot")
    await phase_where(b, lambda p: p["phase"] == "running")
    return match, a, b


async def phase_where(comm, accept, within: float = 10.0) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        phase = await recv_until(comm, "phase", max(0.1, deadline - loop.time()))
        if accept(phase):
            return phase


async def test_the_others_see_a_dropped_player_away_and_the_match_goes_on(tick_worker, settings):
    settings.MATCH_RECONNECT_GRACE = 30
    _match, a, b = await running_duel()
    await a.disconnect()
    phase = await phase_where(b, lambda p: p["present"] == [1])
    assert phase["phase"] == "running"
    [[seat, forfeit_tick]] = phase["away"]
    frame = await recv_until(b, "frame")
    assert seat == 0
    assert forfeit_tick >= frame["tick"] + 29 * 20, "30 s of grace at 20 Hz"
    ticks = [(await recv_until(b, "frame"))["tick"] for _ in range(5)]
    assert ticks == list(range(ticks[0], ticks[0] + 5)), "the clock goes on"
    await b.disconnect()


async def test_resuming_within_the_grace_period_puts_the_player_back_on_the_seat(tick_worker, settings):
    settings.MATCH_RECONNECT_GRACE = 30
    match, a, b = await running_duel()
    await send(a, {"t": "input", "seq": 5, "mx": 1, "my": 0, "aim": 0, "fire": False})
    for _ in range(40):
        if (await recv_until(a, "frame"))["acks"][0] == 5:
            break
    await a.disconnect()
    await phase_where(b, lambda p: p["away"])
    again = await resume(match, a.credential)
    snapshot = await recv_until(again, "snapshot")
    assert (snapshot["seat"], snapshot["phase"]) == (0, "running")
    assert snapshot["acks"][0] >= 5, "the seat's own history came back with it"
    assert (await phase_where(b, lambda p: p["present"] == [0, 1]))["away"] == []
    await send(again, {"t": "input", "seq": 6, "mx": -1, "my": 0, "aim": 0, "fire": False})
    frame = await recv_until(again, "frame")
    assert frame["tick"] == snapshot["tick"] + 1
    await again.disconnect()
    await b.disconnect()
    assert (await database_sync_to_async(Match.objects.get)(pk=match.id)).status == "running"


async def test_a_seat_not_back_within_the_grace_period_forfeits_and_the_result_says_so(tick_worker, settings):
    settings.MATCH_RECONNECT_GRACE = 1
    match, a, b = await running_duel()
    await a.disconnect()
    end = await recv_until(b, "end", within=15)
    result = end["result"]
    assert result["reason"] == "forfeit"
    assert [(e["s"], e["rank"], e.get("ff", False)) for e in result["ranking"]] == [
        (1, 1, False),
        (0, 2, True),
    ]
    row = await database_sync_to_async(Match.objects.get)(pk=match.id)
    assert row.result is not None
    assert (row.status, row.result["reason"]) == ("finished", "forfeit"), (
        "a forfeit is a result, not an abort"
    )
    await b.disconnect()


async def test_a_seat_that_never_came_forfeits_after_the_grace_period(tick_worker, settings):
    settings.MATCH_RECONNECT_GRACE = 1
    settings.MATCH_JOIN_TIMEOUT = 1
    match = await create_match(players=3)
    comms = [await join(match, seat) for seat in (0, 1)]
    running = await phase_where(comms[0], lambda p: p["phase"] == "running")
    assert [seat for seat, _tick in running["away"]] == [2]
    for _ in range(200):
        frame = await recv_until(comms[0], "frame")
        if ["forfeit", 2] in frame["ev"]:
            break
    else:
        raise AssertionError("seat 2 never forfeited")
    assert {"s": 2, "ff": True}.items() <= next(p for p in frame["d"]["p"] if p["s"] == 2).items()
    assert (await recv_until(comms[0], "frame"))["tick"] == frame["tick"] + 1, "two are left: it goes on"
    for comm in comms:
        await comm.disconnect()


async def test_the_seats_of_a_relay_that_went_silent_are_dropped(tick_worker, settings, monkeypatch):
    """A server process killed with SIGKILL sends no leave: its relay's silence drops its seats."""
    monkeypatch.setattr(runner, "RELAY_TIMEOUT_SECONDS", 1.5)
    settings.MATCH_RECONNECT_GRACE = 30
    match = await create_match(players=2)
    b = await join(match, 1)
    await recv_until(b, "snapshot")
    layer = get_channel_layer()
    assert layer is not None
    ghost = await layer.new_channel()  # a relay that joins once and is never heard from again
    await layer.group_send(
        match_owner_group(str(match.id)),
        {"type": "match.join", "match_id": str(match.id), "seat": 0, "relay": ghost, "socket": 1},
    )
    await phase_where(b, lambda p: p["phase"] == "running")
    phase = await phase_where(b, lambda p: p["present"] == [1])
    assert [seat for seat, _tick in phase["away"]] == [0]
    await b.disconnect()


async def test_a_seat_wrongly_counted_as_gone_comes_back_with_its_relays_next_word(tick_worker, settings):
    """A lost leave or a late word (a layer outage) must not forfeit a player who is still here."""
    settings.MATCH_RECONNECT_GRACE = 30
    match, a, b = await running_duel()
    layer = get_channel_layer()
    assert layer is not None
    relay = Relay.of(layer)
    [sink_a] = [sid for sid, sink in relay.sinks[str(match.id)].items() if sink.held_seat() == 0]
    await layer.group_send(
        match_owner_group(str(match.id)),
        {
            "type": "match.leave",
            "match_id": str(match.id),
            "seat": 0,
            "relay": relay.channel,
            "socket": sink_a,
        },
    )
    await phase_where(b, lambda p: p["present"] == [1])
    phase = await phase_where(b, lambda p: p["present"] == [0, 1], within=10)
    assert phase["away"] == []
    await a.disconnect()
    await b.disconnect()
