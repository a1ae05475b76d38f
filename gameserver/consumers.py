"""Consumers shared by every app: the binary-protocol base class and the catch-all route."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from gameserver import protocol
from gameserver.limits import TokenBucket
from gameserver.protocol import CloseCode, ErrorCode, ProtocolError

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class UnknownRouteConsumer(AsyncWebsocketConsumer):
    """Refuses the handshake for a WebSocket path no route matches (an HTTP 403, not a 500)."""

    async def connect(self) -> None:
        await self.close()


class ProtocolConsumer(AsyncWebsocketConsumer):
    """Binary msgpack frames with the per-connection limits every socket of ours has.

    Subclasses call ``setup_limits`` in ``connect``, set ``handlers`` (message type -> coroutine)
    and ``check_message`` (shape check returning the type), and flip ``receiving`` on once the
    connection is admitted. Every message first takes a rate token; every violation is answered
    with an error message and spends a strike; out of strikes, the connection is closed.
    """

    handlers: Mapping[str, Handler]
    receiving = False
    closing = False

    def setup_limits(self, *, max_str_len: int = protocol.DEFAULT_LIMITS.max_str_len) -> None:
        self.limits = protocol.Limits(
            max_message_bytes=settings.WS_MAX_MESSAGE_BYTES, max_str_len=max_str_len
        )
        self.rate = TokenBucket(rate=settings.WS_RATE_PER_SEC, burst=settings.WS_RATE_BURST)
        self.strikes = TokenBucket(rate=1.0, burst=settings.WS_MAX_STRIKES)
        self.last_rate_error = float("-inf")

    def check_message(self, message: dict[str, Any]) -> str:
        """The message's type, after checking its shape; raise ProtocolError otherwise."""
        raise NotImplementedError

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.receiving or self.closing:
            return
        now = time.monotonic()
        if not self.rate.take(now):
            await self.rate_limited(now)
            return
        try:
            if bytes_data is None:
                raise ProtocolError(ErrorCode.TEXT_FRAME, "only binary msgpack frames are accepted")
            message = protocol.decode(bytes_data, self.limits)
            kind = self.check_message(message)
            await self.handlers[kind](message)
        except ProtocolError as exc:
            await self.send_message(protocol.error_message(exc.code, exc.detail))
            await self.strike(now, CloseCode.PROTOCOL)

    async def on_ping(self, message: dict[str, Any]) -> None:
        await self.send_message(protocol.pong_message(message["id"]))

    async def rate_limited(self, now: float, what: str = "") -> None:
        """Drop the message; say so at most once a second; close a sustained flood."""
        if not await self.strike(now, CloseCode.FLOOD):
            return
        if now - self.last_rate_error >= 1.0:
            self.last_rate_error = now
            limit = what or f"over {settings.WS_RATE_PER_SEC} messages/s"
            await self.send_message(
                protocol.error_message(ErrorCode.RATE_LIMITED, f"{limit}; messages are being dropped")
            )

    async def strike(self, now: float, code: CloseCode) -> bool:
        """Count a violation; False (and the connection closed) once the allowance is spent."""
        if self.strikes.take(now):
            return True
        await self.send_message(protocol.error_message(ErrorCode.TOO_MANY_ERRORS, "too many bad messages"))
        self.closing = True  # ignore what is still in flight; disconnect() cleans up as usual
        await self.close(code=int(code))
        return False

    async def refuse(self, code: CloseCode, error: ErrorCode, detail: str) -> None:
        """Tell the client why, then close (Daphne drops close reasons, so the error says it)."""
        await self.send_message(protocol.error_message(error, detail))
        self.closing = True
        await self.close(code=int(code))

    async def send_message(self, message: dict[str, Any]) -> None:
        await self.send(bytes_data=protocol.encode(message))
