"""The active matchmaker's lobby state, kept in Redis so the next active one goes on with it.

Saved by the matchmaker a few times a second while it changes, and once more as it stops;
each save is fenced by the matchmaker's lease (gameserver/edge/lease.py): a script writes only
while the lease still names this process, so a matchmaker that lost the lobby to a standby
can never overwrite what the standby saves.
"""

from __future__ import annotations

from django.conf import settings

from gameserver.edge.layers import layer_prefix
from gameserver.edge.lease import lease_key
from gameserver.groups import MATCHMAKER_CHANNEL

SAVE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
"""


class LobbyStore:
    def __init__(self) -> None:
        import redis.asyncio

        self.key = f"{layer_prefix()}:lobby:state"
        self.lease = lease_key(MATCHMAKER_CHANNEL)
        self.redis = redis.asyncio.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )

    async def load(self) -> bytes | None:
        raw: bytes | None = await self.redis.get(self.key)
        return raw

    async def save(self, data: bytes, holder: str) -> bool:
        """False when this process no longer holds the matchmaker's lease (nothing written)."""
        return bool(await self.redis.eval(SAVE, 2, self.lease, self.key, holder, data))  # type: ignore[misc]

    async def close(self) -> None:
        await self.redis.aclose()
