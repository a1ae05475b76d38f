"""A handler that raises closes its own socket 1011 and runs its cleanup; nobody else notices."""

from __future__ import annotations

import pytest

from gameserver.edge import metrics
from lobby.consumers import LobbyConsumer
from match.consumers import MatchConsumer
from tests.lobby.conftest import online
from tests.match.conftest import create_match, join, recv, recv_until, resume, send

pytestmark = pytest.mark.django_db(transaction=True)


def errors(consumer: str, event: str) -> float:
    return metrics.HANDLER_ERRORS.labels(consumer=consumer, event=event)._value.get()


async def test_a_match_handler_that_raises_closes_1011_frees_the_seat_and_the_match_goes_on(
    tick_worker, monkeypatch
):
    async def broken(self, message):
        raise RuntimeError("a bug in a handler")

    monkeypatch.setattr(MatchConsumer, "on_ping", broken)
    before = errors("MatchConsumer", "websocket.receive")
    match = await create_match(players=3)
    a, b = await join(match, 0), await join(match, 1)
    for comm in (a, b):
        await recv_until(comm, "snapshot")
    await recv_until(a, "phase", within=10)
    await send(b, {"t": "ping", "id": 1})
    while (message := await recv(b, 10))["t"] != "<close>":
        pass
    assert message["code"] == 1011
    assert errors("MatchConsumer", "websocket.receive") == before + 1
    while (phase := await recv_until(a, "phase", within=10))["present"] != [0]:
        pass
    assert phase["present"] == [0], "the failed socket's seat was vacated"
    c = await resume(match, b.credential)  # the seat can be taken again
    assert (await recv_until(c, "snapshot"))["seat"] == 1
    for comm in (a, b, c):
        await comm.disconnect()


async def test_a_lobby_handler_that_raises_closes_1011_and_the_player_leaves_the_lobby(
    workers, monkeypatch, no_lobby_grace
):
    async def broken(self, message):
        raise RuntimeError("a bug in a handler")

    monkeypatch.setattr(LobbyConsumer, "on_chat", broken)
    ann, bob = await online(2)
    await ann.expect("presence", where=lambda m: {"id": bob.user_id, "n": bob.name} in m["joined"])
    await bob.send({"t": "chat", "text": "hello"})
    while (message := await recv(bob.ws, 10))["t"] != "<close>":
        pass
    assert message["code"] == 1011
    left = await ann.expect("presence", left=[bob.user_id], within=10)
    assert left["online"] == 1, "no ghost: the failed socket's player left"
    await ann.close()
    await bob.close()
