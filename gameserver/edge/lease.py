"""A lease in Redis: at most one process at a time does a job (the matchmaker), and a standby
takes over when the holder stops renewing (it died, or it was cut off from Redis).

SET NX PX takes it; the holder renews it every third of its TTL with a script that only
extends the holder's own value, so a holder that lost it can never renew someone else's.
After a Redis restart the key is gone: the holder takes it back at its next renewal, unless a
standby was quicker (then the holder yields). A holder that cannot reach Redis for a whole TTL
must assume it lost the lease and stop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from typing import Any

from django.conf import settings

from gameserver.edge.layers import layer_prefix

log = logging.getLogger(__name__)

LEASE_TTL_MS = 5000
# 1: renewed (or taken back after a Redis restart); 0: someone else holds it.
RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeaseLost(Exception):
    """Another process holds the lease now, or Redis was unreachable for a whole TTL."""


def lease_key(job: str) -> str:
    return f"{layer_prefix()}:lease:{job}"


class Lease:
    def __init__(self, job: str, ttl_ms: int = LEASE_TTL_MS) -> None:
        import redis.asyncio

        self.job = job
        self.key = lease_key(job)
        self.ttl_ms = ttl_ms
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.redis = redis.asyncio.Redis.from_url(
            settings.REDIS_URL, socket_timeout=ttl_ms / 3000, socket_connect_timeout=ttl_ms / 3000
        )
        self.held = False

    async def acquire(self) -> None:
        """Wait until this process holds the lease."""
        said = False
        while True:
            try:
                if await self.redis.set(self.key, self.holder, nx=True, px=self.ttl_ms):
                    self.held = True
                    log.warning("%s: this process is the active one (lease %s)", self.job, self.holder)
                    return
                if not said:
                    holder = await self.redis.get(self.key)
                    log.warning("%s: standing by; %s holds the lease", self.job, (holder or b"?").decode())
                    said = True
            except Exception as exc:
                log.warning("%s: lease not reachable (%r), retrying", self.job, exc)
            await asyncio.sleep(self.ttl_ms / 5000)

    async def hold(self) -> None:
        """Renew until the lease is lost; then raise LeaseLost."""
        last = time.monotonic()
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            try:
                if not await self._eval(RENEW, self.ttl_ms):
                    self.held = False
                    raise LeaseLost(f"{self.job}: another process holds the lease now")
                last = time.monotonic()
            except LeaseLost:
                raise
            except Exception as exc:
                if time.monotonic() - last > self.ttl_ms / 1000:
                    self.held = False
                    raise LeaseLost(f"{self.job}: Redis unreachable for a whole lease ({exc!r})") from None

    async def release(self) -> None:
        """Give the lease up (a clean stop), so that a standby takes over at once."""
        if not self.held:
            return
        self.held = False
        try:
            await asyncio.wait_for(self._eval(RELEASE), self.ttl_ms / 1000)
            log.warning("%s: lease released", self.job)
        except Exception as exc:
            log.warning("%s: could not release the lease (%r); it expires by itself", self.job, exc)

    async def _eval(self, script: str, *args: Any) -> Any:
        return await self.redis.eval(script, 1, self.key, self.holder, *args)  # type: ignore[misc]

    async def close(self) -> None:
        await self.redis.aclose()
