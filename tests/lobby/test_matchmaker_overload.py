"""Overload at the matchmaker: a push to a lobby socket that is not reading is skipped, and a match
no tick worker can be asked to run ends its ready check; nobody waits on either for good."""

from __future__ import annotations

import asyncio

import msgpack
import pytest
from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import channel_layers, get_channel_layer

from gameserver.groups import MATCHMAKER_CHANNEL, TICK_CHANNEL
from gameserver.protocol import lobby as lp
from lobby.matchmaker.model import Outbox
from lobby.matchmaker.worker import MatchmakerConsumer
from match.models import Match
from tests.lobby.conftest import online
from tests.workers import hosted


async def test_a_push_to_a_full_channel_is_skipped_and_the_rest_of_the_outbox_still_goes():
    channel_layers.backends.clear()  # a fresh in-memory layer bound to this test's loop
    layer = get_channel_layer()
    assert layer is not None
    full, reading = await layer.new_channel(), await layer.new_channel()
    with pytest.raises(ChannelFull):  # noqa: PT012 - fill it until the layer refuses
        for _ in range(layer.get_capacity(full) + 1):
            await layer.send(full, {"type": "lobby.push", "frame": b""})
    consumer = MatchmakerConsumer()
    consumer.channel_layer = layer
    out = Outbox()
    out.channel(full, lp.party_message(party_id=0, leader=0, members=[], invited=[]))
    out.channel(reading, lp.room_message(None))

    await consumer.perform(out, now=0.0)  # raised ChannelFull before, and the room push was lost

    event = await asyncio.wait_for(layer.receive(reading), timeout=30)
    assert msgpack.unpackb(event["frame"]) == {"t": lp.ROOM, "code": ""}
    channel_layers.backends.clear()


async def test_a_match_no_tick_worker_can_be_asked_to_run_ends_the_ready_check_and_is_aborted(
    transactional_db,
):
    """The match row exists, but the start request cannot be sent (the tick worker's channel is
    full): the check is cancelled and everyone requeued, the row ends aborted (it stayed
    "checking" for good before)."""
    async with hosted([MATCHMAKER_CHANNEL]):  # nobody drains the tick worker's channel
        layer = get_channel_layer()
        assert layer is not None
        with pytest.raises(ChannelFull):  # noqa: PT012 - fill it until the layer refuses
            for _ in range(layer.get_capacity(TICK_CHANNEL) + 1):
                await layer.send(TICK_CHANNEL, {"type": "match.start", "match_id": "0"})
        ann, bob = await online(2)
        for player in (ann, bob):
            await player.send({"t": lp.QUEUE_JOIN, "mode": lp.DUEL})
        for player in (ann, bob):
            found = await player.expect(lp.MATCH_FOUND)
            await player.send({"t": lp.READY, "check": found["check"], "accept": True})
        for player in (ann, bob):
            cancelled = await player.expect(lp.MATCH_CANCELLED, within=30)
            assert (cancelled["reason"], cancelled["requeued"]) == (lp.CANCEL_TIMEOUT, True)
            assert (await player.expect(lp.QUEUE, where=lambda m: m["mode"] == lp.DUEL))["mode"] == lp.DUEL
        statuses = await database_sync_to_async(
            lambda: list(Match.objects.values_list("status", flat=True))
        )()
        assert statuses == [Match.Status.ABORTED]
        for player in (ann, bob):
            await player.close()


async def test_a_lobby_disconnect_sent_while_the_matchmaker_channel_is_full_still_arrives(transactional_db):
    """The leave used to be dropped with ChannelFull, and the player stayed online for good."""
    async with hosted([TICK_CHANNEL, MATCHMAKER_CHANNEL]):
        layer = get_channel_layer()
        assert layer is not None
        ann, bob = await online(2)
        # A presence batch has gone out with both online (else ann's leave falls in the same one).
        await ann.expect(lp.PRESENCE, where=lambda m: bob.user_id in [p["id"] for p in m["joined"]])
        # Keep the matchmaker's channel full (refilled as fast as it drains) while ann leaves.
        busy = {"type": "mm.alive", "server": "busy-server"}
        full, stop = asyncio.Event(), asyncio.Event()

        async def keep_full() -> None:
            while not stop.is_set():
                try:
                    await layer.send(MATCHMAKER_CHANNEL, busy)
                except ChannelFull:
                    full.set()
                    await asyncio.sleep(0)

        filler = asyncio.ensure_future(keep_full())
        await asyncio.wait_for(full.wait(), timeout=30)
        await ann.close()
        await asyncio.sleep(1.0)
        stop.set()
        await filler
        left = await bob.expect(lp.PRESENCE, within=60, where=lambda m: ann.user_id in m["left"])
        assert left["online"] == 1
        await bob.close()
