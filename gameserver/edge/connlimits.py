"""Connection limits: open sockets per account and per client address (``WS_MAX_PER_USER``,
``WS_MAX_PER_ADDRESS``), counted in this process and, with Redis, across the cluster.

Across the cluster each key (``<prefix>:conns:<kind>:<value>``) is a Redis hash with one field
per server process holding its count and, in a second field, when that count expires. A
process renews its fields every ``RENEW_SECONDS``; the fields of a process that died (SIGKILL,
no goodbye) expire and stop counting within ``FIELD_TTL_SECONDS``. Admission is one script:
read every live field of the keys, refuse if any total is at its limit, else count this socket.
Redis unreachable: the process's own counts still apply (the limit is then per process).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections import Counter
from typing import Any

from django.conf import settings

log = logging.getLogger(__name__)

RENEW_SECONDS = 10.0
FIELD_TTL_SECONDS = 30

# KEYS: the hashes; ARGV: process id, now (ms), ttl (ms), then one limit per key.
# Returns 0 when admitted (and counted), else the 1-based index of the key at its limit.
ADMIT = """
local me, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
for i, key in ipairs(KEYS) do
  local total = 0
  local fields = redis.call('HGETALL', key)
  for j = 1, #fields, 2 do
    local field = fields[j]
    if string.sub(field, -4) ~= ':exp' then
      local expires = tonumber(redis.call('HGET', key, field .. ':exp') or '0')
      if expires > now then
        total = total + tonumber(fields[j + 1])
      else
        redis.call('HDEL', key, field, field .. ':exp')
      end
    end
  end
  if total >= tonumber(ARGV[3 + i]) then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, me, 1)
  redis.call('HSET', key, me .. ':exp', now + ttl)
  redis.call('PEXPIRE', key, ttl)
end
return 0
"""
RELEASE = """
for _, key in ipairs(KEYS) do
  if redis.call('HINCRBY', key, ARGV[1], -1) <= 0 then
    redis.call('HDEL', key, ARGV[1], ARGV[1] .. ':exp')
  end
end
return 1
"""


class Refused(Exception):
    """One more socket for this account or address is over its limit."""

    def __init__(self, kind: str, limit: int) -> None:
        super().__init__(f"at most {limit} open connections per {kind}")
        self.kind = kind
        self.limit = limit


class ConnectionLimits:
    """This process's counts (and its Redis client); one per process."""

    _instance: ConnectionLimits | None = None

    def __init__(self) -> None:
        self.local: Counter[tuple[str, str]] = Counter()
        self.me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.redis: Any = None
        self.renewing: asyncio.Task[None] | None = None
        if settings.REDIS_URL:
            import redis.asyncio

            self.redis = redis.asyncio.Redis.from_url(
                settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
            )
        layers: dict[str, Any] = settings.CHANNEL_LAYERS
        self.prefix = f"{layers['default'].get('CONFIG', {}).get('prefix', 'asgi')}:conns"

    @classmethod
    def get(cls) -> ConnectionLimits:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    @staticmethod
    def keys_for(*, user: object, address: str) -> list[tuple[str, str, int]]:
        keys = [("address", address, settings.WS_MAX_PER_ADDRESS)]
        if user is not None:
            keys.append(("account", str(user), settings.WS_MAX_PER_USER))
        return keys

    async def admit(self, keys: list[tuple[str, str, int]]) -> None:
        """Count one more socket for these keys, or raise Refused (nothing counted then)."""
        for kind, value, limit in keys:
            if self.local[(kind, value)] >= limit:
                raise Refused(kind, limit)
        if self.redis is not None:
            try:
                names = [f"{self.prefix}:{kind}:{value}" for kind, value, _ in keys]
                seconds, micros = await self.redis.time()
                now = seconds * 1000 + micros // 1000
                full = await self.redis.eval(
                    ADMIT, len(names), *names, self.me, now, FIELD_TTL_SECONDS * 1000, *[k[2] for k in keys]
                )
            except Exception as exc:  # Redis unreachable: this process's counts still hold
                log.warning("connection limits: Redis not reachable (%r); counting in this process only", exc)
            else:
                if full:
                    kind, _value, limit = keys[int(full) - 1]
                    raise Refused(kind, limit)
                self._renew_soon()
        for kind, value, _limit in keys:
            self.local[(kind, value)] += 1

    async def release(self, keys: list[tuple[str, str, int]]) -> None:
        for kind, value, _limit in keys:
            self.local[(kind, value)] -= 1
            if self.local[(kind, value)] <= 0:
                del self.local[(kind, value)]
        if self.redis is not None:
            try:
                names = [f"{self.prefix}:{kind}:{value}" for kind, value, _ in keys]
                await self.redis.eval(RELEASE, len(names), *names, self.me)
            except Exception as exc:  # the field expires by itself
                log.warning("connection limits: release not recorded in Redis (%r)", exc)

    def _renew_soon(self) -> None:
        if self.renewing is None or self.renewing.done():
            self.renewing = asyncio.ensure_future(self._renew())

    async def _renew(self) -> None:
        """Keep this process's fields alive while it holds sockets counted in them."""
        while self.local:
            await asyncio.sleep(RENEW_SECONDS)
            try:
                seconds, micros = await self.redis.time()
                expires = seconds * 1000 + micros // 1000 + FIELD_TTL_SECONDS * 1000
                async with self.redis.pipeline(transaction=False) as pipe:
                    for kind, value in list(self.local):
                        name = f"{self.prefix}:{kind}:{value}"
                        pipe.hset(
                            name, mapping={self.me: self.local[(kind, value)], f"{self.me}:exp": expires}
                        )
                        pipe.pexpire(name, FIELD_TTL_SECONDS * 1000)
                    await pipe.execute()
            except Exception as exc:
                log.warning("connection limits: counts not renewed in Redis (%r)", exc)
