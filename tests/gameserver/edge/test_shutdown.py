"""Stopping a process (gameserver/edge/shutdown.py): every socket is told and closed 1012 and
cleaned up, every hosted match ends aborted with its result written once, and a socket that
arrives meanwhile is refused the same way."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from gameserver.edge.shutdown import Shutdown, drain
from match.models import Match
from match.tickets import ticket_issue
from tests.match.conftest import communicator, create_match, join, recv, recv_until

pytestmark = pytest.mark.django_db(transaction=True)


async def until_close(comm) -> tuple[list[dict], int | None]:
    seen = []
    while (message := await recv(comm, 10))["t"] != "<close>":
        seen.append(message)
    return seen, message["code"]


async def test_a_drain_tells_and_closes_every_player_then_ends_the_match_aborted_once(
    tick_worker, monkeypatch
):
    monkeypatch.setattr(Shutdown, "stopping", False)
    match = await create_match(players=2)
    a, b = await join(match, 0), await join(match, 1)
    for comm in (a, b):
        await recv_until(comm, "snapshot")
    await recv_until(a, "frame", within=10)  # running

    draining = asyncio.ensure_future(drain(60))
    for comm in (a, b):
        seen, code = await until_close(comm)
        assert code == 1012
        errors = [m for m in seen if m["t"] == "error"]
        assert errors[-1]["code"] == "shutting_down"
        assert "reconnect" in errors[-1]["detail"]
        await comm.send_input({"type": "websocket.disconnect", "code": 1012})  # the client's answer
    done = await asyncio.wait_for(draining, 60)

    assert done["sockets_closed"] >= 2
    assert done["matches_ended"] == 1
    stored = await database_sync_to_async(Match.objects.get)(pk=match.pk)
    assert stored.status == Match.Status.ABORTED
    assert stored.result is not None
    assert stored.result["reason"] == "aborted"
    assert Shutdown.stopping

    late = communicator(match.id, ticket_issue(match_id=str(match.id), seat=0))
    connected, _ = await late.connect()
    assert connected  # accepted only to say why
    seen, code = await until_close(late)
    assert code == 1012
    assert seen[-1]["code"] == "shutting_down"
    for comm in (a, b, late):
        await comm.disconnect()


async def test_a_drain_with_nothing_connected_ends_at_once(monkeypatch):
    monkeypatch.setattr(Shutdown, "stopping", False)
    monkeypatch.setattr(Shutdown, "sockets", type(Shutdown.sockets)())
    monkeypatch.setattr(Shutdown, "workers", type(Shutdown.workers)())
    done = await drain(10)
    assert done == {"sockets": 0, "sockets_closed": 0, "matches_ended": 0, "seconds": done["seconds"]}
    assert Shutdown.stopping, "new sockets are refused from now on"
