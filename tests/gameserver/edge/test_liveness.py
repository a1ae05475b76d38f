"""Readiness in one process (the in-memory layer, `make run`): ready only while a tick worker and
the matchmaker listen; a worker's listener outlives a failing receive."""

from __future__ import annotations

import asyncio
import json

from django.test import AsyncClient

from gameserver.edge.liveness import ResilientWorker
from gameserver.groups import MATCHMAKER_CHANNEL, TICK_CHANNEL
from tests.workers import hosted


async def test_readyz_is_503_without_workers_and_200_with_both(transactional_db):
    client = AsyncClient()
    async with hosted([TICK_CHANNEL]):
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert json.loads(response.content)["workers"] == {"match-tick": 1, "matchmaker": 0}
    async with hosted([TICK_CHANNEL, MATCHMAKER_CHANNEL]):
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert json.loads(response.content) == {
            "ready": True,
            "layer": "in-memory",
            "layer_ok": True,
            "workers": {"match-tick": 1, "matchmaker": 1},
        }


class FlakyLayer:
    """A layer whose first receives fail the way a restarting Redis makes them fail."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.delivered = asyncio.Queue[dict[str, str]]()

    async def receive(self, channel: str) -> dict[str, str]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Connection closed by server.")
        return await self.delivered.get()

    async def group_discard(self, group: str, channel: str) -> None:
        if self.failures:
            raise ConnectionError("still down")


async def test_a_listener_retries_failed_receives_and_delivers_what_comes_after():
    layer = FlakyLayer(failures=3)
    seen: list[dict[str, str]] = []

    async def app(scope, receive, send):
        while True:
            seen.append(await receive())

    worker = ResilientWorker(application=app, channels=[TICK_CHANNEL], channel_layer=layer)
    task = asyncio.ensure_future(worker.arun())
    try:
        await layer.delivered.put({"type": "match.start"})
        for _ in range(600):  # the backoff is 0.2 + 0.4 + 0.8 s; generous ceiling
            if seen:
                break
            await asyncio.sleep(0.05)
        assert seen == [{"type": "match.start"}]
        assert worker.receiving(TICK_CHANNEL)
        assert not task.done(), "the worker ended on a failed receive"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
