"""Limits every socket of ours has: connections per account and per address (in this process
and across processes with Redis), idle sockets, clients that stop reading, and sign-outs that
close the sockets of that sign-in."""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from gameserver.asgi import application
from gameserver.edge import connlimits, consumer
from gameserver.edge.connlimits import ConnectionLimits, Refused
from lobby.services.accounts import token_revoke
from match.tickets import ticket_issue
from tests.lobby.conftest import ORIGIN, new_player, recv_until
from tests.match.conftest import create_match

pytestmark = pytest.mark.django_db(transaction=True)


async def lobby_socket(
    token: str | None = None, headers: list[tuple[bytes, bytes]] | None = None
) -> WebsocketCommunicator:
    auth = [(b"authorization", f"Bearer {token}".encode())] if token else []
    comm = WebsocketCommunicator(application, "/ws/lobby/", headers=[*ORIGIN, *auth, *(headers or [])])
    comm.scope["client"] = ("127.0.0.1", 50000)  # as a server sets it (the peer)
    connected, _ = await comm.connect()
    assert connected
    return comm


async def refusal(comm: WebsocketCommunicator) -> tuple[str, int]:
    error = await recv_until(comm, "error", within=10)
    close = await comm.receive_output(10)
    assert close["type"] == "websocket.close"
    return error["code"], close["code"]


async def test_one_socket_too_many_for_an_account_is_refused_4429(workers, settings):
    settings.WS_MAX_PER_USER = 2
    player = await new_player()
    first, second = await lobby_socket(player.token), await lobby_socket(player.token)
    for comm in (first, second):
        await recv_until(comm, "welcome", within=10)
    third = await lobby_socket(player.token)
    assert await refusal(third) == ("too_many_connections", 4429)
    await first.disconnect()
    await asyncio.sleep(0.2)
    again = await lobby_socket(player.token)
    await recv_until(again, "welcome", within=10)  # a closed one gave its place back
    for comm in (second, again):
        await comm.disconnect()


async def test_one_socket_too_many_for_an_address_is_refused_whatever_its_account(tick_worker, settings):
    settings.WS_MAX_PER_ADDRESS = 3
    match = await create_match(players=4)
    comms = []
    for seat in range(3):
        comm = WebsocketCommunicator(
            application,
            f"/ws/match/{match.id}/?ticket={ticket_issue(match_id=str(match.id), seat=seat)}",
            headers=ORIGIN,
        )
        comm.scope["client"] = ("127.0.0.1", 50001 + seat)
        assert (await comm.connect())[0]
        assert msgpack.unpackb((await comm.receive_output(10))["bytes"])["t"] == "seat"
        comms.append(comm)
    player = await new_player()
    fourth = await lobby_socket(player.token)
    assert await refusal(fourth) == ("too_many_connections", 4429)
    for comm in comms:
        await comm.disconnect()


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance(workers, settings):
    settings.WS_MAX_PER_ADDRESS = 1
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    ann, bob = await new_player(), await new_player()
    first = await lobby_socket(ann.token, [(b"x-forwarded-for", b"203.0.113.1")])
    other = await lobby_socket(bob.token, [(b"x-forwarded-for", b"203.0.113.2")])
    for comm in (first, other):
        await recv_until(comm, "welcome", within=10)
    again = await lobby_socket(bob.token, [(b"x-forwarded-for", b"203.0.113.1")])
    assert await refusal(again) == ("too_many_connections", 4429)
    for comm in (first, other):
        await comm.disconnect()


async def test_limits_hold_across_processes_and_a_dead_process_stops_counting(
    settings, redis_url, redis_prefix, monkeypatch
):
    """Two processes' counters on one real Redis: the limit is the cluster's; the fields of a
    process that died without a goodbye expire."""
    settings.REDIS_URL = redis_url
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"prefix": redis_prefix}}
    }
    monkeypatch.setattr(connlimits, "FIELD_TTL_SECONDS", 1)
    settings.WS_MAX_PER_USER = 3
    one, two = ConnectionLimits(), ConnectionLimits()
    keys = ConnectionLimits.keys_for(user=7, address="198.51.100.9")
    await one.admit(keys)
    await one.admit(keys)
    await two.admit(keys)
    with pytest.raises(Refused, match="per account"):
        await two.admit(keys)
    await one.release(keys)
    await two.admit(keys)  # a released place is free everywhere
    await asyncio.sleep(1.2)  # nobody renewed: as if both processes died
    fresh = ConnectionLimits()
    for _ in range(3):
        await fresh.admit(keys)
    for limits in (one, two, fresh):
        await limits.redis.aclose()


async def test_a_socket_that_sends_nothing_is_closed_4408_and_one_that_pings_is_not(
    workers, settings, monkeypatch
):
    monkeypatch.setattr(consumer, "SWEEP_SECONDS", 0.2)
    consumer.Sweeper.task = None
    settings.WS_IDLE_SECONDS = 1
    quiet, chatty = await new_player(), await new_player()
    silent, pinging = await lobby_socket(quiet.token), await lobby_socket(chatty.token)
    for comm in (silent, pinging):
        await recv_until(comm, "welcome", within=10)
    for ping in range(1, 8):
        await pinging.send_to(bytes_data=msgpack.packb({"t": "ping", "id": ping}))
        await recv_until(pinging, "pong", within=10)
        await asyncio.sleep(0.3)
    assert await refusal(silent) == ("idle", 4408)
    await pinging.send_to(bytes_data=msgpack.packb({"t": "ping", "id": 99}))
    assert (await recv_until(pinging, "pong", within=10))["id"] == 99, "pings keep a socket open"
    await pinging.disconnect()


async def test_a_client_that_stopped_reading_is_dropped(workers, settings, monkeypatch):
    """Under Daphne, Twisted would buffer for such a client without a bound: past
    WS_MAX_SEND_BUFFER the connection is dropped (a stand-in for Twisted's buffer here)."""
    dropped: list[bool] = []

    class Buffer:
        def __call__(self) -> int:
            return 10 * settings.WS_MAX_SEND_BUFFER

        def abort(self) -> None:
            dropped.append(True)

    monkeypatch.setattr(consumer, "daphne_buffered", lambda send: Buffer())
    player = await new_player()
    comm = await lobby_socket(player.token)
    await comm.send_to(bytes_data=msgpack.packb({"t": "ping", "id": 1}))  # any write checks
    deadline = asyncio.get_running_loop().time() + 10
    while not dropped:
        assert asyncio.get_running_loop().time() < deadline, "the slow reader was kept"
        await asyncio.sleep(0.05)
    await comm.disconnect()


async def test_revoking_a_token_closes_the_sockets_opened_with_it(workers):
    player = await new_player()
    other = await new_player()
    mine, theirs = await lobby_socket(player.token), await lobby_socket(other.token)
    for comm in (mine, theirs):
        await recv_until(comm, "welcome", within=10)
    assert await database_sync_to_async(token_revoke)(token=player.token)
    assert await refusal(mine) == ("signed_out", 4401)
    await theirs.send_to(bytes_data=msgpack.packb({"t": "ping", "id": 3}))
    assert (await recv_until(theirs, "pong", within=10))["id"] == 3, "another sign-in is untouched"
    await theirs.disconnect()


async def test_logging_out_closes_the_session_s_sockets(workers):
    client = Client()

    def sign_up() -> str:
        response = client.post(
            "/api/auth/register/",
            {"username": "Dora", "password": "a long passphrase 42"},
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
        return str(client.cookies["sessionid"].value)

    session = await database_sync_to_async(sign_up)()
    comm = await lobby_socket(headers=[(b"cookie", f"sessionid={session}".encode())])
    await recv_until(comm, "welcome", within=10)

    def log_out() -> Any:
        csrf = client.get("/").cookies.get("csrftoken")
        token = csrf.value if csrf is not None else client.cookies["csrftoken"].value
        return client.post("/api/auth/logout/", headers={"X-CSRFToken": token})

    assert (await database_sync_to_async(log_out)()).status_code == 200
    assert await refusal(comm) == ("signed_out", 4401)
