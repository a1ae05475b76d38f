"""The embedded mode's in-memory layer: channels' semantics without a scan of every channel per message."""

from __future__ import annotations

import asyncio

import pytest
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer

from gameserver.edge.layers import InMemoryChannelLayer


@pytest.fixture
def scans(monkeypatch):
    """How many times the full O(channels + memberships) sweep ran."""
    count = [0]
    original = ChannelsInMemoryChannelLayer._clean_expired  # type: ignore[attr-defined]

    def counting(self):
        count[0] += 1
        original(self)

    monkeypatch.setattr(ChannelsInMemoryChannelLayer, "_clean_expired", counting)
    return count


async def test_group_send_reaches_every_member_once():
    layer = InMemoryChannelLayer()
    channels = [await layer.new_channel() for _ in range(5)]
    for channel in channels:
        await layer.group_add("g", channel)
    await layer.group_send("g", {"type": "x", "n": 1})
    for channel in channels:
        assert await asyncio.wait_for(layer.receive(channel), 10) == {"type": "x", "n": 1}


async def test_a_thousand_sockets_cost_one_sweep_a_second_not_one_per_message(scans):
    layer = InMemoryChannelLayer()
    channels = [await layer.new_channel() for _ in range(1000)]
    for channel in channels:
        await layer.group_add("lobby", channel)
    await layer.group_add("match", channels[0])
    for tick in range(200):
        await layer.group_send("match", {"type": "frame", "tick": tick})
        await layer.receive(channels[0])
    assert scans[0] <= 2  # within a second: the first call's sweep, maybe one more


async def test_expired_messages_still_expire_and_their_channel_leaves_its_groups():
    layer = InMemoryChannelLayer(expiry=0)
    layer.sweep_interval = 0.0
    stale, live = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", stale)
    await layer.send(stale, {"type": "old"})
    await asyncio.sleep(0.01)
    await layer.group_send("g", {"type": "new"})  # sweeps first: the old message is gone
    assert stale not in layer.groups.get("g", {})
    await layer.send(live, {"type": "fresh"})
    assert layer.channels[live].qsize() == 1


async def test_a_full_member_misses_a_group_message_but_send_says_so():
    layer = InMemoryChannelLayer(capacity=1)
    full, other = await layer.new_channel(), await layer.new_channel()
    for channel in (full, other):
        await layer.group_add("g", channel)
    await layer.send(full, {"type": "filler"})
    await layer.group_send("g", {"type": "frame"})
    assert await asyncio.wait_for(layer.receive(other), 10) == {"type": "frame"}
    with pytest.raises(ChannelFull):
        await layer.send(full, {"type": "more"})
