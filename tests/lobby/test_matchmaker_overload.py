"""An overloaded lobby socket (its channel full) misses a push; nobody else waits on it."""

from __future__ import annotations

import asyncio

import msgpack
import pytest
from channels.exceptions import ChannelFull
from channels.layers import channel_layers, get_channel_layer

from gameserver.protocol import lobby as lp
from lobby.matchmaker.model import Outbox
from lobby.matchmaker.worker import MatchmakerConsumer


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
