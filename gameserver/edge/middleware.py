"""The outermost WebSocket middleware: hands the server's own ``send`` to our consumers.

channels' SessionMiddleware wraps ``send`` to save sessions on ``http.response.start``; on a
WebSocket it never does anything, yet each frame paid for the wrapper's session checks
(``scope["session"].modified`` through a LazyObject, ``is_empty()``): about 8% of a Daphne
process's CPU at 200 sockets. The consumers write with the server's ``send`` instead.
"""

from __future__ import annotations

from typing import Any

SERVER_SEND = "gameserver.server_send"  # the scope key (scopes are copied, never shared)


class ServerSendMiddleware:
    """Put the ASGI server's ``send`` in the scope, for writes that need no middleware."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        return await self.inner({**scope, SERVER_SEND: send}, receive, send)
