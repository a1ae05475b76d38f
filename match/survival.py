"""Match survival with Redis: each running match has ONE owner, held as a lease; the owner
checkpoints the match, and another tick worker takes it over when the owner dies.

Keys (under the channel layer's prefix):

- ``match:owner:<id>``: the owner's channel name, PX ``MATCH_LEASE_MS``; renewed by a script
  that only extends the owner's own value, so an owner that lost it can never renew another's.
- ``match:ckpt:<id>``: the last checkpoint (msgpack: tick, state bytes from the pure rules,
  phase, seats away and forfeited, owner), written every ``MATCH_CHECKPOINT_TICKS``.
- ``match:log:<id>``: the inputs applied since that checkpoint, one entry per tick, appended
  every few ticks; a checkpoint and the emptying of the log happen in one script.
- ``match:running``: the set of match ids that have an owner or should have one; every tick
  worker scans it for matches whose lease expired, and the first to take the lease resumes
  the match from the checkpoint plus the log.

Every write is fenced: the scripts write only while the caller still holds the lease, so a
worker that stalled past its lease (a long pause, a partition) cannot overwrite the new
owner's checkpoints; its result write is fenced in the database (``Match.owner``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack
from django.conf import settings

from gameserver.edge.layers import layer_prefix
from gameserver.edge.recovery import LayerWatch

log = logging.getLogger(__name__)

ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SADD', KEYS[2], ARGV[3])
  return 1
end
return 0
"""
# 1: renewed; 2: the key was gone (a restarted Redis) and is ours again; 0: another's.
RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[3])
  return 2
end
return 0
"""
# A missing lease (a restarted Redis forgot it, and the running set with it, so nobody else
# can have taken the match) is taken back with the checkpoint.
CHECKPOINT = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  redis.call('SADD', KEYS[4], ARGV[4])
end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[3])
return 1
"""
# 2: the lease is gone (Redis restarted): nothing appended, the next checkpoint takes it back.
APPEND = """
local holder = redis.call('GET', KEYS[1])
if not holder then return 2 end
if holder ~= ARGV[1] then return 0 end
for i = 2, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
return 1
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
FINISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('SREM', KEYS[4], ARGV[2])
return 1
"""


class Fenced(Exception):
    """This worker no longer holds the match's lease: another one owns the match now."""


@dataclass
class Checkpoint:
    """What a new owner resumes from: the state at ``tick`` plus the log entries after it."""

    tick: int
    state: bytes
    phase: str
    away: dict[int, int]
    forfeited: list[int]
    owner: str
    log: list[list[Any]]


def encode_checkpoint(
    *, tick: int, state: bytes, phase: str, away: dict[int, int], forfeited: list[int], owner: str
) -> bytes:
    return msgpack.packb(
        {
            "tick": tick,
            "state": state,
            "phase": phase,
            "away": [[s, t] for s, t in away.items()],
            "ff": forfeited,
            "owner": owner,
        },
        use_bin_type=True,
    )


class MatchStore:
    """One per tick worker process (a Redis connection pool of its own)."""

    def __init__(self) -> None:
        import redis.asyncio

        self.ttl_ms: int = settings.MATCH_LEASE_MS
        timeout = self.ttl_ms / 3000
        self.redis = redis.asyncio.Redis.from_url(
            settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self.base = f"{layer_prefix()}:match"
        self.running_key = f"{self.base}:running"

    def keys(self, match_id: str) -> tuple[str, str, str]:
        return f"{self.base}:owner:{match_id}", f"{self.base}:ckpt:{match_id}", f"{self.base}:log:{match_id}"

    async def _eval(self, script: str, keys: list[str], *args: Any) -> Any:
        return await self.redis.eval(script, len(keys), *keys, *args)  # type: ignore[misc]

    async def acquire(self, match_id: str, owner: str) -> bool:
        """Take the match's lease if nobody holds it (and list the match as running)."""
        owner_key, _ckpt, _log = self.keys(match_id)
        return bool(await self._eval(ACQUIRE, [owner_key, self.running_key], owner, self.ttl_ms, match_id))

    async def renew(self, match_id: str, owner: str) -> int:
        """1: renewed; 2: taken back after Redis lost it (checkpoint again now); 0: lost."""
        owner_key, _ckpt, _log = self.keys(match_id)
        return int(await self._eval(RENEW, [owner_key, self.running_key], owner, self.ttl_ms, match_id))

    async def checkpoint(self, match_id: str, owner: str, data: bytes) -> None:
        owner_key, ckpt, log_key = self.keys(match_id)
        keys = [owner_key, ckpt, log_key, self.running_key]
        if not await self._eval(CHECKPOINT, keys, owner, data, self.ttl_ms, match_id):
            raise Fenced(f"match {match_id}: checkpoint refused, the lease is another worker's")

    async def append(self, match_id: str, owner: str, entries: list[list[Any]]) -> bool:
        """Log the inputs of the ticks since the last append (one entry per tick); False when
        Redis lost the lease and checkpoint (restarted): a checkpoint must come first."""
        if not entries:
            return True
        owner_key, _ckpt, log_key = self.keys(match_id)
        packed = [msgpack.packb(entry, use_bin_type=True) for entry in entries]
        appended = await self._eval(APPEND, [owner_key, log_key], owner, *packed)
        if not appended:
            raise Fenced(f"match {match_id}: log append refused, the lease is another worker's")
        return bool(appended == 1)

    async def load(self, match_id: str) -> Checkpoint | None:
        _owner, ckpt, log_key = self.keys(match_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(ckpt)
            pipe.lrange(log_key, 0, -1)
            raw, entries = await pipe.execute()
        if raw is None:
            return None
        data = msgpack.unpackb(raw, raw=False)
        return Checkpoint(
            tick=data["tick"],
            state=data["state"],
            phase=data["phase"],
            away={int(s): int(t) for s, t in data["away"]},
            forfeited=list(data["ff"]),
            owner=data["owner"],
            log=[msgpack.unpackb(e, raw=False) for e in entries],
        )

    async def release(self, match_id: str, owner: str) -> None:
        """Give the lease up, keeping checkpoint and log: another worker resumes the match."""
        owner_key, _ckpt, _log = self.keys(match_id)
        await self._eval(RELEASE, [owner_key], owner)

    async def finish(self, match_id: str, owner: str) -> None:
        """The result is recorded: forget the match (only while still its owner)."""
        owner_key, ckpt, log_key = self.keys(match_id)
        await self._eval(FINISH, [owner_key, ckpt, log_key, self.running_key], owner, match_id)

    async def forget(self, match_id: str) -> None:
        """A listed match that is over or was never checkpointed: drop what is left of it."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*self.keys(match_id))
            pipe.srem(self.running_key, match_id)
            await pipe.execute()

    async def orphans(self, skip: set[str]) -> list[str]:
        """Listed matches nobody holds the lease of (their owner died or handed them over)."""
        ids = [m.decode() for m in await self.redis.smembers(self.running_key)]  # type: ignore[misc]
        ids = [m for m in ids if m not in skip]
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for match_id in ids:
                pipe.exists(self.keys(match_id)[0])
            held = await pipe.execute()
        return [m for m, h in zip(ids, held, strict=True) if not h]

    async def close(self) -> None:
        await self.redis.aclose()


# The log goes to Redis every this many ticks: a takeover loses at most these last ticks' inputs.
LOG_FLUSH_TICKS = 2


class Keeper:
    """The survival side of one owned match: renews its lease, logs each tick's inputs and
    writes checkpoints. A Redis error is reported and retried at the next tick (the match plays
    on); only a lease that another worker holds now stops the match (``Fenced``)."""

    def __init__(self, store: MatchStore, match_id: str, owner: str, layer: Any) -> None:
        self.store = store
        self.match_id = match_id
        self.owner = owner
        self.layer = layer
        self.every: int = settings.MATCH_CHECKPOINT_TICKS
        self.buffer: list[list[Any]] = []  # log entries not yet in Redis
        self.checkpointed: int | None = None  # tick of the last checkpoint written

    async def hold(self, lost: Callable[[], None]) -> None:
        """Renew the lease every third of its TTL until it is lost; then call ``lost``."""
        while True:
            await asyncio.sleep(self.store.ttl_ms / 3000)
            try:
                renewed = await self.store.renew(self.match_id, self.owner)
            except Exception as exc:
                self._failed("renew", exc)
                continue
            if renewed == 0:
                log.warning("match %s: another tick worker holds its lease now; stopping here", self.match_id)
                lost()
                return
            if renewed == 2:  # Redis forgot everything (restarted): the checkpoint too
                log.warning("match %s: lease taken back after a Redis restart", self.match_id)
                self.checkpointed = None

    def log(self, entry: list[Any]) -> None:
        self.buffer.append(entry)

    async def after_tick(self, tick: int, checkpoint: Callable[[], bytes]) -> None:
        try:
            if self.checkpointed is None or tick - self.checkpointed >= self.every:
                await self.store.checkpoint(self.match_id, self.owner, checkpoint())
                self.checkpointed = tick
                self.buffer.clear()
            elif tick % LOG_FLUSH_TICKS == 0 and self.buffer:
                if not await self.store.append(self.match_id, self.owner, self.buffer):
                    self.checkpointed = None  # Redis restarted: checkpoint at the next tick
                self.buffer.clear()
        except Fenced:
            raise
        except Exception as exc:  # the buffer is kept and sent with the next flush
            self._failed("checkpoint", exc)

    async def save(self, data: bytes) -> None:
        """A checkpoint now (a new owner's first, a hand-over's last)."""
        await self.store.checkpoint(self.match_id, self.owner, data)
        self.buffer.clear()

    def _failed(self, what: str, exc: Exception) -> None:
        LayerWatch.of(self.layer).report(f"match.{what}", exc, f"match {self.match_id}")
