"""The input batcher: the newest input per seat, one message per match per tick to its owner."""

from __future__ import annotations

import asyncio

import pytest

from gameserver.edge import metrics
from gameserver.edge.layers import InMemoryChannelLayer
from gameserver.edge.relay import Relay
from match.worker import TickWorkerConsumer
from tests.match.conftest import create_match, join, recv_until, send

pytestmark = pytest.mark.django_db(transaction=True)


def an_input(seq: int) -> dict:
    return {"t": "input", "seq": seq, "mx": 1, "my": 0, "aim": 3, "fire": False}


async def test_a_ticks_inputs_reach_the_owner_as_one_batch_with_the_newest_per_seat(tick_worker, monkeypatch):
    batches: list[list[list]] = []
    original = TickWorkerConsumer.match_inputs

    async def recording(self, event):
        batches.append(event["inputs"])
        await original(self, event)

    monkeypatch.setattr(TickWorkerConsumer, "match_inputs", recording)
    match = await create_match(players=2)
    a, b = await join(match, 0), await join(match, 1)
    for comm in (a, b):
        await recv_until(comm, "snapshot")
    start = (await recv_until(a, "frame"))["tick"]
    for seq in range(1, 21):
        await send(a, an_input(seq))
        await send(b, an_input(seq))
    while (frame := await recv_until(a, "frame"))["acks"] != [20, 20]:
        pass
    ticks = frame["tick"] - start
    assert len(batches) <= ticks + 1, f"{len(batches)} batches for 40 inputs over {ticks} ticks"
    assert len(batches) < 40
    assert all(len({seat for seat, _ in batch}) == len(batch) for batch in batches), "one entry per seat"
    assert {seat for batch in batches for seat, fields in batch if fields["seq"] == 20} == {0, 1}
    for comm in (a, b):
        await comm.disconnect()


async def test_a_batch_refused_by_a_full_owner_channel_is_counted_and_the_next_one_goes_through():
    layer = InMemoryChannelLayer(capacity=1)
    relay = Relay.of(layer)
    owner = await layer.new_channel()
    relay.owners["m"] = owner
    relay.periods["m"] = 0.01
    await layer.send(owner, {"type": "filler"})  # the owner is behind: its channel is full
    # ChannelFull, raised by the real layer:
    before = metrics.LAYER_ERRORS.labels(where="inputs.flush", error="ChannelFull")._value.get()
    relay.inputs.put("m", 0, an_input(1))
    await asyncio.sleep(0.1)
    after = metrics.LAYER_ERRORS.labels(where="inputs.flush", error="ChannelFull")._value.get()
    assert after == before + 1
    assert await layer.receive(owner) == {"type": "filler"}
    relay.inputs.put("m", 0, an_input(2))
    batch = await asyncio.wait_for(layer.receive(owner), 10)
    assert batch == {"type": "match.inputs", "match_id": "m", "inputs": [[0, an_input(2)]]}
