"""Getting a process's group memberships back after the channel layer failed.

A restarted Redis has forgotten every group. Only one of a process's pending receives reads
from Redis at a time (channels-redis), so the relay or a socket may never see the failure
itself; whoever sees one reports it here, and ONE task per layer waits until the layer answers
again, then asks everything registered (the relay, the sockets, the workers) to join its groups
again. Players then resync from snapshots.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any, Protocol

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer

from gameserver.edge import metrics
from gameserver.edge.perlayer import PerLayer

log = logging.getLogger(__name__)

PROBE_SECONDS = 0.5  # how often a down layer is tried
PROBE_GROUP = "edge-probe"
LOG_SECONDS = 5.0  # a failing layer is logged at most this often per place (always counted)


class Member(Protocol):
    async def rejoin_groups(self) -> None: ...


class LayerWatch(PerLayer):
    """One per channel layer."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        super().__init__(layer)
        self.members: weakref.WeakSet[Any] = weakref.WeakSet()
        self.task: asyncio.Task[None] | None = None
        self.logged: dict[str, float] = {}  # where -> when its last failure was logged

    def report(self, where: str, exc: BaseException, what: str) -> None:
        """A layer operation failed: count it, recover unless it was only a full channel (load,
        not a lost connection), and log it at most every LOG_SECONDS for each ``where``."""
        metrics.layer_error(where, exc)
        if not isinstance(exc, ChannelFull):
            self.failed()
        now = time.monotonic()
        if now - self.logged.get(where, float("-inf")) >= LOG_SECONDS:
            self.logged[where] = now
            log.warning(
                "%s failed: %r (%s; counted, logged at most every %ss)", where, exc, what, LOG_SECONDS
            )

    def register(self, member: Member) -> None:
        self.members.add(member)

    def failed(self) -> None:
        """A layer operation failed somewhere in this process: recover once it answers again."""
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._recover())

    async def _recover(self) -> None:
        channel = await self.layer.new_channel()
        while True:
            await asyncio.sleep(PROBE_SECONDS)
            try:
                await self.layer.group_add(PROBE_GROUP, channel)
                await self.layer.group_discard(PROBE_GROUP, channel)
                break
            except Exception as exc:
                metrics.layer_error("recovery.probe", exc)
        log.warning("channel layer answers again; %d members join their groups again", len(self.members))
        for member in list(self.members):
            try:
                await member.rejoin_groups()
            except Exception as exc:  # down again: the next failure starts another recovery
                metrics.layer_error("recovery.rejoin", exc)
                return


SURE_SECONDS = 60.0  # how long a message that must arrive is retried
_sending: set[asyncio.Task[None]] = set()  # the loop holds tasks only weakly


def send_surely(layer: BaseChannelLayer, channel: str, message: dict[str, Any], where: str) -> None:
    """Send a message that must not be lost (a socket's leave: dropped, it leaves a ghost in the
    lobby or a seat present in a match), retried in the background while the channel is full or
    the layer is down, for up to SURE_SECONDS; the caller does not wait for it."""

    async def run() -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SURE_SECONDS
        delay = 0.05
        while True:
            try:
                await layer.send(channel, message)
                return
            except Exception as exc:
                LayerWatch.of(layer).report(
                    where, exc, f"to {channel}, retried for up to {SURE_SECONDS:.0f}s"
                )
                if loop.time() + delay > deadline:
                    log.error(
                        "%s: gave up sending %s to %s after %.0fs",
                        where,
                        message["type"],
                        channel,
                        SURE_SECONDS,
                    )
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    task = asyncio.ensure_future(run())
    _sending.add(task)
    task.add_done_callback(_sending.discard)
