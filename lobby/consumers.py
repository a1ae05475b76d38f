"""LobbyConsumer: a signed-in player's socket into the lobby at ``ws/lobby/``.

Thin: it checks every message (same codec and limits as matches), posts chat itself (a write
and a broadcast), and forwards every other request to the matchmaker, which owns presence,
parties, queues and rooms and answers through the player's group. Pushes arrive already
encoded and are written as they are.
"""

from __future__ import annotations

import time
from typing import Any

from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from django.conf import settings

from gameserver import protocol
from gameserver.edge.consumer import EdgeConsumer
from gameserver.edge.recovery import send_surely
from gameserver.groups import MATCHMAKER_CHANNEL, lobby_group, lobby_user_group
from gameserver.limits import TokenBucket
from gameserver.protocol import CloseCode, ErrorCode, ProtocolError
from gameserver.protocol import lobby as lp
from lobby import heartbeat
from lobby.models import Player
from lobby.services.accounts import player_ensure
from lobby.services.chat import EmptyChat, chat_post

# Strings in lobby messages may be longer than in matches (a chat line is up to 200 characters,
# up to 800 bytes of UTF-8); the message size limit still bounds everything.
LOBBY_MAX_STR_BYTES = 1024
FORWARDED = frozenset(lp.CLIENT_TYPES - {lp.PING, lp.CHAT})


class LobbyConsumer(EdgeConsumer):
    """Binary msgpack frames only; limits per connection are documented in docs/protocol.md."""

    player: Player
    joined = False

    async def connect(self) -> None:
        self.setup_limits(max_str_len=LOBBY_MAX_STR_BYTES)
        self.chat_rate = TokenBucket(rate=settings.CHAT_RATE_PER_SEC, burst=settings.CHAT_BURST)
        self.handlers = {
            protocol.PING: self.on_ping,
            lp.CHAT: self.on_chat,
            **dict.fromkeys(FORWARDED, self.forward),
        }
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(
                CloseCode.UNAUTHORIZED,
                ErrorCode.UNAUTHENTICATED,
                "sign in first: a session cookie, or an Authorization: Bearer token at the handshake",
            )
            return
        self.player = await database_sync_to_async(player_ensure)(user=user)  # type: ignore[arg-type]
        self.user_id = int(user.pk)
        self.joined = True  # from here on, cleanup has something to undo
        heartbeat.socket_opened()
        await self.group_join(lobby_group())
        await self.group_join(lobby_user_group(self.user_id))
        self.receiving = True
        await self.announce()

    async def announce(self) -> None:
        await self.to_matchmaker(
            {
                "type": "mm.connect",
                "user": self.user_id,
                "name": self.player.name,
                "guest": self.player.is_guest,
                "channel": self.channel_name,
                "server": heartbeat.SERVER_ID,
            }
        )

    async def cleanup(self) -> None:
        if not self.joined:
            return  # never admitted
        heartbeat.socket_closed()
        await self.group_leave(lobby_group())
        await self.group_leave(lobby_user_group(self.user_id))
        # Retried while the matchmaker's channel is full or Redis is down (a dropped disconnect
        # would leave a ghost); if this process dies first, its heartbeat stops and the
        # matchmaker expires its sockets.
        send_surely(
            self.channel_layer,
            MATCHMAKER_CHANNEL,
            {
                "type": "mm.disconnect",
                "user": self.user_id,
                "channel": self.channel_name,
                # A socket the client closed with 1000 (sign-out) leaves at once, not after the
                # lobby's grace period (a reload or a closed tab sends 1001).
                "left": getattr(self, "client_close_code", None) == 1000
                or getattr(self, "signed_out", False),
            },
            "mm.disconnect",
        )

    def check_message(self, message: dict[str, Any]) -> str:
        return lp.check_lobby_message(message)

    # --- client -> server -----------------------------------------------------------------------

    async def forward(self, message: dict[str, Any]) -> None:
        await self.to_matchmaker(
            {"type": "mm.request", "user": self.user_id, "channel": self.channel_name, "message": message}
        )

    async def on_chat(self, message: dict[str, Any]) -> None:
        now = time.monotonic()
        if not self.chat_rate.take(now):
            # A chat flood is a flood: dropped, said at most once a second, closed with 4429.
            await self.rate_limited(
                now, f"chat: over {settings.CHAT_RATE_PER_SEC}/s (bursts of {settings.CHAT_BURST})"
            )
            return
        try:
            chat = await database_sync_to_async(chat_post)(
                user_id=self.user_id, name=self.player.name, text=message["text"]
            )
        except EmptyChat as exc:
            raise ProtocolError(ErrorCode.BAD_SHAPE, str(exc)) from None
        await self.channel_layer.group_send(
            lobby_group(), {"type": "lobby.push", "frame": protocol.encode(chat)}
        )

    async def to_matchmaker(self, event: dict[str, Any]) -> None:
        try:
            await self.channel_layer.send(MATCHMAKER_CHANNEL, event)
        except ChannelFull:
            await self.send_message(
                protocol.error_message(ErrorCode.BUSY, "the matchmaker is overloaded; try again shortly")
            )

    # --- channel layer -> client ------------------------------------------------------------------

    async def lobby_push(self, event: dict[str, Any]) -> None:
        await self.send(bytes_data=event["frame"])

    async def lobby_resync(self, event: dict[str, Any]) -> None:
        """A (re)started matchmaker rebuilds presence from the sockets that are open."""
        if self.receiving:
            await self.announce()
