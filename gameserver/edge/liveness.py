"""Named-channel workers that outlive the channel layer's failures, and what readiness reports.

channels' ``Worker`` lets one failed ``receive`` end its ``handle()``: with ``runworker`` the
process exited, and in ``serve`` the embedded tick worker and matchmaker vanished while the
process went on answering /healthz. A restarted Redis left the game with neither. Here a
failed receive is reported (``LayerWatch``: counted, logged, group memberships recovered) and
retried with backoff; the application instances, and what they hold (running matches, the
lobby), live on.

Readiness (``/readyz``) says whether this process can serve a game now: the channel layer
answers, and someone listens on the tick-worker and matchmaker channels. A worker in this
process answers for itself; workers in other processes (``runworker``, ``make cluster``) keep
a short-lived key in Redis while they receive.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import weakref
from typing import Any

from channels.layers import get_channel_layer
from channels.worker import Worker
from django.conf import settings

from gameserver.edge.layers import layer_prefix
from gameserver.edge.lease import Lease
from gameserver.edge.recovery import PROBE_GROUP, LayerWatch
from gameserver.groups import MATCHMAKER_CHANNEL, TICK_CHANNEL

log = logging.getLogger(__name__)

RETRY_MIN, RETRY_MAX = 0.2, 5.0  # seconds between receive retries while the layer is down
BEAT_SECONDS = 2.0  # how often a worker renews its key in Redis
BEAT_TTL = 6  # seconds the key outlives its last renewal (a dead worker drops out this fast)
PROBE_TIMEOUT = 2.0  # seconds a readiness probe waits for Redis
REQUIRED = (TICK_CHANNEL, MATCHMAKER_CHANNEL)
LEASED = (MATCHMAKER_CHANNEL,)  # one process at a time (with Redis); tick workers share theirs
# Started with the worker, not at its first message: a tick worker scans for matches to take
# over (match/worker.py) even if no match was ever started on it.
EAGER = (TICK_CHANNEL,)

_local: weakref.WeakSet[ResilientWorker] = weakref.WeakSet()


def _redis() -> Any:
    import redis.asyncio

    return redis.asyncio.Redis.from_url(
        settings.REDIS_URL, socket_timeout=PROBE_TIMEOUT, socket_connect_timeout=PROBE_TIMEOUT
    )


def _beat_key(channel: str, worker: str = "*") -> str:
    return f"{layer_prefix()}:alive:{channel}:{worker}"


class ResilientWorker(Worker):
    """channels' Worker whose listeners retry a failed receive instead of ending the worker."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failing: set[str] = set()  # channels whose last receive failed
        self.leases: dict[str, Lease] = {}
        self.listening: dict[str, asyncio.Task[None]] = {}
        self.leased_tasks: dict[str, tuple[asyncio.Task[None], ...]] = {}  # what to cancel to stop
        self.releasing = False
        self.name = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    async def handle(self) -> None:
        """channels' handle, plus the liveness key, and the listeners cancelled with it (channels
        leaves them pending when the worker is cancelled)."""
        for channel in self.channels:
            if channel in EAGER:
                self.get_or_create_application_instance(channel, {"type": "channel", "channel": channel})
        self.listening = {channel: asyncio.ensure_future(self.listener(channel)) for channel in self.channels}
        tasks = list(self.listening.values())
        if settings.REDIS_URL:
            tasks.append(asyncio.ensure_future(self.beat()))
        _local.add(self)
        try:
            await asyncio.gather(*tasks)
        finally:
            _local.discard(self)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def listener(self, channel: str) -> None:
        if channel in LEASED and settings.REDIS_URL:
            await self.leased_listener(channel)
        else:
            await self.receive_loop(channel)

    async def leased_listener(self, channel: str) -> None:
        """Receive only while this process holds the channel's lease: two matchmakers reading
        one channel would split the lobby between them. A lost lease drops the consumer, and
        the state it held, before standing by again; a clean stop releases it."""
        lease = Lease(channel)
        self.leases[channel] = lease
        try:
            while True:
                acquiring = asyncio.ensure_future(lease.acquire())
                self.leased_tasks[channel] = (acquiring,)
                await asyncio.wait({acquiring})  # a standby stopping cancels it (release_leases)
                if acquiring.cancelled():
                    return
                receiving = asyncio.ensure_future(self.receive_loop(channel))
                holding = asyncio.ensure_future(lease.hold())
                self.leased_tasks[channel] = (receiving, holding)
                try:
                    await asyncio.wait({receiving, holding}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in (receiving, holding):
                        task.cancel()
                    await asyncio.gather(receiving, holding, return_exceptions=True)
                if self.releasing:
                    return
                log.warning(
                    "worker: %s; dropping this process's %s and standing by", holding.exception(), channel
                )
                if channel in self.application_instances:
                    self.delete_application_instance(channel)
        finally:
            if not lease.held:  # a held one is released (then closed) by release_leases
                self.leases.pop(channel, None)
                await lease.close()

    async def release_leases(self) -> None:
        """A clean stop: stop receiving on the leased channels, then give their leases up, so a
        standby takes over at once instead of after the lease's TTL."""
        self.releasing = True
        for channel, lease in list(self.leases.items()):
            for task in self.leased_tasks.get(channel, ()):
                task.cancel()  # its listener then returns (held or standing by); the rest go on
            listening = self.listening.get(channel)
            if listening is not None:
                await asyncio.gather(listening, return_exceptions=True)
            await lease.release()
            await lease.close()
            self.leases.pop(channel, None)

    async def receive_loop(self, channel: str) -> None:
        delay = RETRY_MIN
        while True:
            try:
                message = await self.channel_layer.receive(channel)
            except Exception as exc:  # the layer's errors: ConnectionError, TimeoutError, ...
                self.failing.add(channel)
                LayerWatch.of(self.channel_layer).report(
                    "worker.receive", exc, f"channel {channel}, retrying in {delay:.1f}s"
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                await self.probe(channel)
                continue
            delay = RETRY_MIN
            if not message.get("type"):
                log.warning("worker: a message without a type on %s, dropped", channel)
                continue
            queue = self.get_or_create_application_instance(channel, {"type": "channel", "channel": channel})
            await queue.put(message)

    async def probe(self, channel: str) -> None:
        """A receive that works just blocks (an idle channel has nothing to say): so a cheap
        layer call decides when a failing channel counts as receiving again."""
        try:
            await self.channel_layer.group_discard(PROBE_GROUP, f"{channel}.probe")
        except Exception:
            return
        self.failing.discard(channel)
        log.warning("worker: the channel layer answers again; receiving on %s", channel)

    def receiving(self, channel: str) -> bool:
        lease = self.leases.get(channel)
        held = lease is None or lease.held
        return channel in self.channels and channel not in self.failing and held

    async def beat(self) -> None:
        """Keep one key per listened channel in Redis while that channel receives."""
        client = _redis()
        try:
            while True:
                try:
                    async with client.pipeline(transaction=False) as pipe:
                        for channel in self.channels:
                            if self.receiving(channel):
                                pipe.set(_beat_key(channel, self.name), int(time.time()), ex=BEAT_TTL)
                        await pipe.execute()
                except Exception as exc:
                    LayerWatch.of(self.channel_layer).report("worker.beat", exc, "liveness key not renewed")
                await asyncio.sleep(BEAT_SECONDS)
        finally:
            await client.aclose()


def lease_holder(channel: str) -> str | None:
    """This process's holder id for the channel's lease while it holds it, else None."""
    for worker in list(_local):
        lease = worker.leases.get(channel)
        if lease is not None and lease.held:
            return lease.holder
    return None


async def listeners_elsewhere(channel: str) -> int:
    """How many workers in other processes receive on ``channel`` now (their liveness keys);
    0 without Redis or when it cannot be asked."""
    if not settings.REDIS_URL:
        return 0
    own = {w.name for w in list(_local)}
    client = _redis()
    try:
        keys = [key.decode() async for key in client.scan_iter(match=_beat_key(channel), count=100)]
    except Exception:
        return 0
    finally:
        await client.aclose()
    start = len(_beat_key(channel, ""))
    return sum(1 for key in keys if key[start:] not in own)


async def release_leases() -> None:
    """Every worker of this process gives up its leases (the drain of a clean stop)."""
    for worker in list(_local):
        await worker.release_leases()


async def readiness() -> tuple[bool, dict[str, Any]]:
    """(ready, details): the layer answers and every required channel has a live listener."""
    details: dict[str, Any] = {"layer": "redis" if settings.REDIS_URL else "in-memory"}
    local = {c: sum(w.receiving(c) for w in list(_local)) for c in REQUIRED}
    if not settings.REDIS_URL:
        layer_ok = get_channel_layer() is not None
        workers = local
    else:
        client = _redis()
        try:
            await client.ping()
            layer_ok = True
            workers = {}
            for channel in REQUIRED:
                keys = [key async for key in client.scan_iter(match=_beat_key(channel), count=100)]
                workers[channel] = max(len(keys), local[channel])
        except Exception as exc:
            layer_ok, workers = False, local
            details["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            await client.aclose()
    details["layer_ok"] = layer_ok
    details["workers"] = workers
    ready = layer_ok and all(workers[c] > 0 for c in REQUIRED)
    return ready, details
