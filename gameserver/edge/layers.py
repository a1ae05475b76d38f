"""The in-memory channel layer of the embedded mode, without channels' per-message scans.

channels' ``InMemoryChannelLayer`` walks every channel and every group membership on each
``receive`` and ``group_send`` (``_clean_expired``), and ``group_send`` starts one task per
member: a tick cost O(sockets^2) in one process (28 / 111 / 465 us per delivered frame at
10 / 200 / 1,000 sockets). Here the sweep runs at most once a second (so a message may outlive
its expiry by up to that long) and ``group_send`` puts to each member's queue directly.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer


class InMemoryChannelLayer(ChannelsInMemoryChannelLayer):
    """Same API and semantics as channels' in-memory layer; cost per message independent of size."""

    sweep_interval = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next_sweep = 0.0

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
