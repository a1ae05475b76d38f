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


async def test_a_batch_refused_by_a_full_owner_channel_is_counted_and_sent_again_unless_overtaken():
    """An input is the keys held: one lost to a full channel would leave a client that sends
    only on change holding the old keys. It goes again, unless a newer one of its seat came."""
    layer = InMemoryChannelLayer(capacity=1)
    relay = Relay.of(layer)
    owner = await layer.new_channel()
    relay.owners["m"] = owner
    relay.periods["m"] = 0.01
    counted = metrics.LAYER_ERRORS.labels(where="inputs.flush", error="ChannelFull")
    await layer.send(owner, {"type": "filler"})  # the owner is behind: its channel is full
    before = counted._value.get()
    relay.inputs.put("m", 0, an_input(1))
    await asyncio.sleep(0.1)
    assert counted._value.get() > before  # ChannelFull, raised by the real layer
    assert await layer.receive(owner) == {"type": "filler"}
    batch = await asyncio.wait_for(layer.receive(owner), 10)
    assert batch == {"type": "match.inputs", "match_id": "m", "inputs": [[0, an_input(1)]]}

    await layer.send(owner, {"type": "filler"})
    relay.inputs.put("m", 0, an_input(2))
    relay.inputs.put("m", 1, an_input(2))
    await asyncio.sleep(0.1)  # refused, and again
    relay.inputs.put("m", 0, an_input(3))  # seat 0's newer input overtakes its refused one
    assert await layer.receive(owner) == {"type": "filler"}
    got: dict[int, list[int]] = {0: [], 1: []}
    while not (got[0][-1:] == [3] and got[1]):
        batch = await asyncio.wait_for(layer.receive(owner), 10)
        for seat, fields in batch["inputs"]:
            got[seat].append(fields["seq"])
    # (a batch already on its way as seat 0's newer input came may still carry its older one)
    assert got == {0: [3], 1: [2]} or got == {0: [2, 3], 1: [2]}
