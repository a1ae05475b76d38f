"""Named-channel workers hosted in the test's event loop, exactly as ``manage.py serve`` hosts
them (the ResilientWorker feeding the ChannelNameRouter), on a fresh in-memory layer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from channels.db import database_sync_to_async
from channels.layers import channel_layers, get_channel_layer
from django.db import connections

from gameserver.asgi import application
from gameserver.edge.liveness import ResilientWorker


@asynccontextmanager
async def hosted(channels: list[str]) -> AsyncIterator[ResilientWorker]:
    channel_layers.backends.clear()  # a fresh in-memory layer bound to this test's loop
    layer = get_channel_layer()
    assert layer is not None
    worker = ResilientWorker(application=application, channels=channels, channel_layer=layer)
    task = asyncio.ensure_future(worker.arun())
    try:
        yield worker
    finally:
        task.cancel()
        for instance in list(worker.application_instances.values()):
            instance["future"].cancel()
        await asyncio.gather(
            task, *(i["future"] for i in worker.application_instances.values()), return_exceptions=True
        )
        channel_layers.backends.clear()
        # The thread that ran the consumers' queries keeps its connection; close it, or the test
        # database (PostgreSQL) cannot be dropped at the end of the session.
        await database_sync_to_async(connections.close_all)()
