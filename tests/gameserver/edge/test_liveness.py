"""Readiness in one process (the in-memory layer, `make run`): ready only while a tick worker and
the matchmaker listen. (Workers outliving a real Redis restart: tests/gameserver/edge/test_faults.py.)"""

from __future__ import annotations

import json

from django.test import AsyncClient

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
