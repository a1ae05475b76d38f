"""Anonymous match creation is limited: per client address (MATCH_CREATE_PER_MIN), and by the
room the tick workers have for waiting matches (MATCH_WAITING_MAX), which the worker itself
enforces too, whatever path a start comes by."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.test import Client
from django.utils import timezone

from gameserver.groups import MATCHMAKER_CHANNEL
from match import services, views
from match.models import Match
from tests.match.conftest import communicator, create_match, recv

BODY = json.dumps({"players": 2})


def post(client: Client, **extra: Any) -> Any:
    return client.post("/api/matches/", data=BODY, content_type="application/json", **extra)


@pytest.mark.django_db
def test_match_creation_is_throttled_per_client_address(client, settings):
    settings.MATCH_CREATE_PER_MIN = 3
    answers = [post(client, REMOTE_ADDR="198.51.100.1") for _ in range(5)]
    assert [a.status_code for a in answers] == [201, 201, 201, 429, 429]
    assert answers[-1].json()["error"] == "rate_limited"
    assert 1 <= int(answers[-1]["Retry-After"]) <= 20  # a token every 20 s
    assert Match.objects.count() == 3  # the refused ones made nothing
    assert post(client, REMOTE_ADDR="198.51.100.2").status_code == 201  # another address


@pytest.mark.django_db
def test_behind_a_trusted_proxy_match_creation_counts_the_forwarded_address(client, settings):
    settings.MATCH_CREATE_PER_MIN = 1
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    ann = {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "198.51.100.1"}
    assert [post(client, **ann).status_code for _ in range(2)] == [201, 429]
    bob = {"REMOTE_ADDR": "10.0.0.6", "HTTP_X_FORWARDED_FOR": "198.51.100.2"}  # another proxy hop
    assert post(client, **bob).status_code == 201


@pytest.mark.django_db
def test_the_default_rate_leaves_a_player_room_for_practice(client, settings):
    """The browser tests and the practice flow create a few matches a minute from one address."""
    assert settings.MATCH_CREATE_PER_MIN >= 10
    assert all(post(client).status_code == 201 for _ in range(10))


@pytest.mark.django_db
def test_creation_is_refused_with_503_busy_once_waiting_matches_fill_half_the_room(
    client, settings, monkeypatch
):
    monkeypatch.setattr(views, "tick_workers", lambda: 1)
    settings.MATCH_WAITING_MAX = 4  # one tick worker: anonymous matches may fill 2 of its 4
    addresses = iter(f"198.51.100.{i}" for i in range(1, 50))
    assert [post(client, REMOTE_ADDR=next(addresses)).status_code for _ in range(2)] == [201, 201]
    busy = post(client, REMOTE_ADDR=next(addresses))
    assert busy.status_code == 503
    assert busy.json()["error"] == "busy"
    horizon = settings.MATCH_JOIN_TIMEOUT + views.START_SLACK_SECONDS
    assert 1 <= int(busy["Retry-After"]) <= horizon
    assert Match.objects.count() == 2

    # A match that starts (or ends) frees its place.
    first = Match.objects.order_by("created_at").first()
    assert first is not None
    Match.objects.filter(pk=first.pk).update(status=Match.Status.RUNNING)
    assert post(client, REMOTE_ADDR=next(addresses)).status_code == 201
    assert post(client, REMOTE_ADDR=next(addresses)).status_code == 503

    # A waiting row older than any waiting match can be (its worker died) is not counted.
    old = timezone.now() - timedelta(seconds=horizon + 1)
    Match.objects.filter(status=Match.Status.WAITING).update(created_at=old)
    assert post(client, REMOTE_ADDR=next(addresses)).status_code == 201


@pytest.mark.django_db
def test_the_room_grows_with_the_live_tick_workers(client, settings, monkeypatch):
    settings.MATCH_WAITING_MAX = 4
    monkeypatch.setattr(views, "tick_workers", lambda: 3)  # room 12, half for anonymous matches
    answers = [post(client, REMOTE_ADDR=f"198.51.100.{i}").status_code for i in range(7)]
    assert answers == [201] * 6 + [503]


@pytest.mark.django_db
def test_lobby_matches_count_against_the_room_too(client, settings, monkeypatch):
    monkeypatch.setattr(views, "tick_workers", lambda: 1)
    settings.MATCH_WAITING_MAX = 4
    services.match_create(players=2)
    services.match_create(players=2)
    assert post(client).status_code == 503


def test_this_process_counts_its_own_tick_worker(monkeypatch):
    monkeypatch.setattr(views, "_workers_seen", (float("-inf"), 1))
    assert views.tick_workers() == 1  # none runs in this test: still at least 1


# --- the tick worker's own cap ----------------------------------------------------------------


async def status_of(match: Match) -> str:
    fresh = await database_sync_to_async(Match.objects.get)(pk=match.pk)
    return str(fresh.status)


async def until(predicate: Any, within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await predicate():
        assert loop.time() < deadline, "never happened"
        await asyncio.sleep(0.02)


async def test_a_tick_worker_refuses_a_start_beyond_its_cap_and_aborts_the_match(tick_worker, settings):
    settings.MATCH_WAITING_MAX = 2
    held = [await create_match(), await create_match()]

    async def owned() -> bool:
        rows = [await database_sync_to_async(Match.objects.get)(pk=m.pk) for m in held]
        return all(row.owner for row in rows)

    await until(owned)  # both wait in the worker now
    extra = await create_match()  # as the lobby or anything else would: straight to the worker

    async def aborted() -> bool:
        return await status_of(extra) == Match.Status.ABORTED

    await until(aborted)
    stored = await database_sync_to_async(Match.objects.get)(pk=extra.pk)
    assert stored.result == {"reason": "aborted", "tick": 0, "ranking": []}
    assert [await status_of(m) for m in held] == [Match.Status.WAITING] * 2  # untouched

    # The matchmaker hears of it (it frees a lobby match's players), as of any match that ends.
    layer = get_channel_layer()
    assert layer is not None
    message = await asyncio.wait_for(layer.receive(MATCHMAKER_CHANNEL), 2)
    assert message == {"type": "mm.match_ended", "match_id": str(extra.pk)}

    # A player who opens the refused match is told it is over.
    from match.tickets import ticket_issue

    comm = communicator(extra.id, ticket_issue(match_id=str(extra.id), seat=0))
    connected, _ = await comm.connect()
    assert connected
    messages = [await recv(comm), await recv(comm)]
    assert messages[-1] == {"t": "<close>", "code": 4410}
    await comm.disconnect()


async def test_a_refused_start_is_never_for_a_match_another_worker_owns(tick_worker, settings):
    settings.MATCH_WAITING_MAX = 2
    held = [await create_match(), await create_match()]
    elsewhere = await create_match(start=False)
    await database_sync_to_async(services.match_claim)(match_id=str(elsewhere.pk), owner="another-worker")

    async def owned() -> bool:
        rows = [await database_sync_to_async(Match.objects.get)(pk=m.pk) for m in held]
        return all(row.owner for row in rows)

    await until(owned)
    await services.amatch_request_start(match_id=str(elsewhere.pk))  # a stray, re-sent start
    await asyncio.sleep(0.3)
    assert await status_of(elsewhere) == Match.Status.WAITING
