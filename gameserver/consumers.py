"""Consumers shared by every app."""

from channels.generic.websocket import AsyncWebsocketConsumer


class UnknownRouteConsumer(AsyncWebsocketConsumer):
    """Refuses the handshake for a WebSocket path no route matches (an HTTP 403, not a 500)."""

    async def connect(self) -> None:
        await self.close()
