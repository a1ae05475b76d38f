"""The in-memory channel layer of the embedded mode, without channels' per-message scans.

channels' ``InMemoryChannelLayer`` walks every channel and every group membership on each
``receive`` and ``group_send`` (``_clean_expired``), and ``group_send`` starts one task per
member: a tick cost O(sockets^2) in one process (28 / 111 / 465 us per delivered frame at
10 / 200 / 1,000 sockets). Here the sweep runs at most once a second (so a message may outlive
its expiry by up to that long) and ``group_send`` puts to each member's queue directly.

Each message is copied the way channels-redis carries it, through msgpack (``packb`` then
``unpackb`` with msgpack's defaults), instead of ``copy.deepcopy``: a third of the cost, and a
message Redis could not carry (an int map key, an object) fails here too, in the embedded mode,
rather than only once a deployment scales out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import msgpack
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer
from django.conf import settings


class InMemoryChannelLayer(ChannelsInMemoryChannelLayer):
    """Same API and semantics as channels' in-memory layer; cost per message independent of size."""

    sweep_interval = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next_sweep = 0.0

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        queue = self.channels.get(channel)
        if queue is None:
            queue = self.channels[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
        try:
            queue.put_nowait((time.time() + self.expiry, msgpack.unpackb(msgpack.packb(message))))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

    def _clean_expired(self) -> None:
        now = time.time()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.sweep_interval
        super()._clean_expired()  # type: ignore[misc]

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        for channel in list(self.groups.get(group, ())):
            with contextlib.suppress(ChannelFull):  # as channels' layers do: a full member misses it
                await self.send(channel, message)


def layer_prefix() -> str:
    """The channel layer's key prefix (CHANNEL_LAYER_PREFIX): every Redis key of ours starts with
    it, so deployments and tests sharing one Redis server keep apart."""
    layers: dict[str, Any] = settings.CHANNEL_LAYERS
    return str(layers["default"].get("CONFIG", {}).get("prefix", "asgi"))
