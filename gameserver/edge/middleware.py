"""The outermost WebSocket middleware: hands the server's own ``send`` and ``receive`` to our
consumers.

channels' SessionMiddleware wraps ``send`` to save sessions on ``http.response.start``; on a
WebSocket it never does anything, yet each frame paid for the wrapper's session checks
(``scope["session"].modified`` through a LazyObject, ``is_empty()``): about 8% of a Daphne
process's CPU at 200 sockets. The consumers write with the server's ``send`` instead.

Daphne hands every client frame to the application through an ``asyncio.Queue``: a put, a
future woken, a loop turn, and the consumer's task resumed through a dozen middleware frames,
for each 20 Hz input. ``deliver_directly`` lets a consumer take a message straight from the
put when nothing is ahead of it (see EdgeConsumer.deliver).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

SERVER_SEND = "gameserver.server_send"  # the scope keys (scopes are copied, never shared)
SERVER_RECEIVE = "gameserver.server_receive"


class ServerSendMiddleware:
    """Put the ASGI server's ``send`` and ``receive`` in the scope, for the consumers' hot paths."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        return await self.inner({**scope, SERVER_SEND: send, SERVER_RECEIVE: receive}, receive, send)


def deliver_directly(
    receive: Any, deliver: Callable[[dict[str, Any]], bool]
) -> Callable[[dict[str, Any]], None] | None:
    """Offer each ``websocket.receive`` put on Daphne's queue to ``deliver`` first.

    Returns the queue's own put (for messages that must reach the consumer's receive), or None
    where nothing was set up.

    Only when the queue is empty (nothing the consumer has not read yet) and only if ``deliver``
    accepts it (False: the consumer is busy), so the consumer sees messages in arrival order.
    ``receive`` must be the queue's own ``get`` (Daphne); any other server is left as it is.
    """
    queue = getattr(receive, "__self__", None)
    if type(queue) is not asyncio.Queue or getattr(receive, "__func__", None) is not asyncio.Queue.get:
        return None
    queued = queue.put_nowait

    def put_nowait(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.receive" and queue.empty() and deliver(message):
            return
        queued(message)

    queue.put_nowait = put_nowait  # type: ignore[method-assign,assignment]
    return queued
