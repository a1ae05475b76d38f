"""The catch-all WebSocket route (the consumer base every socket uses is in gameserver.edge)."""

from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer


class UnknownRouteConsumer(AsyncWebsocketConsumer):
    """Refuses the handshake for a WebSocket path no route matches (an HTTP 403, not a 500)."""

    async def connect(self) -> None:
        await self.close()
