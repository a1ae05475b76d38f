"""The relay: one layer message per match per tick per process, written straight to each socket."""

from __future__ import annotations

from typing import Any

import pytest
from channels.layers import get_channel_layer

from gameserver.edge.consumer import EdgeConsumer
from gameserver.edge.relay import Relay
from gameserver.groups import match_group
from tests.match.conftest import create_match, join, recv_until

pytestmark = pytest.mark.django_db(transaction=True)


async def full_match(players: int):
    match = await create_match(players=players)
    sockets = []
    for seat in range(players):
        sockets.append(await join(match, seat))
        await recv_until(sockets[-1], "snapshot")
    return match, sockets


async def test_a_match_group_holds_one_relay_per_process_however_many_sockets(tick_worker):
    match, sockets = await full_match(4)
    layer: Any = get_channel_layer()
    relay = Relay.of(layer)
    assert set(layer.groups[match_group(str(match.id))]) == {relay.channel}
    for comm in sockets:
        first = (await recv_until(comm, "frame"))["tick"]
        assert [(await recv_until(comm, "frame"))["tick"] for _ in range(5)] == list(
            range(first + 1, first + 6)
        )
    for comm in sockets:
        await comm.disconnect()
    assert match_group(str(match.id)) not in layer.groups, "the last local socket takes the relay out"
    assert str(match.id) not in relay.sinks


async def test_frames_never_go_through_a_consumer_dispatch(tick_worker, monkeypatch):
    dispatched: list[str] = []
    original = EdgeConsumer.dispatch

    async def recording(self, message):
        dispatched.append(message["type"])
        await original(self, message)

    monkeypatch.setattr(EdgeConsumer, "dispatch", recording)
    _match, sockets = await full_match(2)
    for _ in range(10):
        await recv_until(sockets[0], "frame")
    assert dispatched, "the spy saw the sockets' own messages"
    assert not [kind for kind in dispatched if kind.startswith("match.")], dispatched
    for comm in sockets:
        await comm.disconnect()


async def test_a_socket_that_cannot_be_written_is_cleaned_up_and_the_others_keep_every_frame(tick_worker):
    match, (a, b, c) = await full_match(3)
    layer: Any = get_channel_layer()
    relay = Relay.of(layer)
    sinks: list[Any] = list(relay.sinks[str(match.id)].values())
    broken = next(s for s in sinks if s.seat == 1)

    async def refusing(message):
        raise ConnectionResetError("the transport is closing")

    broken.raw_send = refusing  # what a server's send does once its socket is going away
    first = (await recv_until(a, "frame"))["tick"]
    ticks = [(await recv_until(a, "frame"))["tick"] for _ in range(10)]
    assert ticks == list(range(first + 1, first + 11))
    assert broken.gone
    assert broken.cleaned, "the failed write ran the socket's cleanup"
    assert broken not in relay.sinks[str(match.id)].values()
    for comm in (a, b, c):
        await comm.disconnect()
