"""Each server process tells the matchmaker it is alive, so the sockets of a process that died
(and never sent their disconnects) leave the lobby instead of haunting it."""

from __future__ import annotations

import asyncio
import logging
import uuid

from channels.layers import get_channel_layer

from gameserver.groups import MATCHMAKER_CHANNEL

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
SERVER_ID = uuid.uuid4().hex[:12]  # this process, as lobby consumers name it to the matchmaker

_sockets = 0
_task: asyncio.Task[None] | None = None


def socket_opened() -> None:
    """Count a lobby socket; start this process's heartbeat if it is not running."""
    global _sockets, _task
    _sockets += 1
    if _task is None or _task.done() or _task.get_loop() is not asyncio.get_running_loop():
        _task = asyncio.ensure_future(_beat())


def socket_closed() -> None:
    global _sockets
    _sockets = max(0, _sockets - 1)


async def _beat() -> None:
    while _sockets > 0:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        layer = get_channel_layer()
        try:
            if layer is not None:
                await layer.send(MATCHMAKER_CHANNEL, {"type": "mm.alive", "server": SERVER_ID})
        except Exception:  # a full channel or a Redis hiccup: the next beat tries again
            log.warning("lobby heartbeat could not reach the matchmaker", exc_info=True)
