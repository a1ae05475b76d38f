"""The input batcher: newest input per seat, sent to the match's owner once per tick.

Inputs are validated once, at the socket. Per match, this process keeps the newest input of
each local seat and flushes them as ONE layer message (``[[seat, fields], ...]``: channels-redis
packs with msgpack, which refuses int map keys) shortly before the match's next tick is due,
as learned from the frames' arrival times; an input that comes after this tick's flush goes
with the next one. So a tick costs one message per match per process, not one per input. A
batch the layer refuses (the owner's channel full) goes again with the next one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING, Any

from gameserver.edge import metrics
from gameserver.edge.recovery import LayerWatch

if TYPE_CHECKING:
    from gameserver.edge.relay import Relay

log = logging.getLogger(__name__)

# Flush this far (a fraction of the period) before the next tick is due here, so the batch
# reaches the owner in time even through Redis and a busy loop.
LEAD = 0.3


class InputBatcher:
    """Per process and layer (owned by the relay)."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.pending: dict[str, dict[int, dict[str, Any]]] = {}  # match -> seat -> input fields
        self.flushed_for: dict[str, float] = {}  # match -> the tick time its last flush was for

    def put(self, match_id: str, seat: int, fields: dict[str, Any]) -> None:
        seats = self.pending.get(match_id)
        if seats is None:
            seats = self.pending[match_id] = {}
            self._schedule(match_id)
        seats[seat] = fields

    def forget(self, match_id: str) -> None:
        self.pending.pop(match_id, None)
        self.flushed_for.pop(match_id, None)

    def _schedule(self, match_id: str) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = self.relay.next_tick_at(match_id, now)
        if due is None:  # no frame yet (waiting for players): batch over one period
            loop.call_at(now + self.relay.period(match_id), self._flush, match_id, 0.0)
            return
        tick_at, period = due
        if self.flushed_for.get(match_id) == tick_at:  # this tick's batch is gone: the next one
            tick_at += period
        loop.call_at(max(now, tick_at - LEAD * period), self._flush, match_id, tick_at)

    def _flush(self, match_id: str, tick_at: float) -> None:
        seats = self.pending.pop(match_id, None)
        owner = self.relay.owner(match_id)
        if not seats or owner is None:
            return
        self.flushed_for[match_id] = tick_at
        event = {"type": "match.inputs", "match_id": match_id, "inputs": [[s, f] for s, f in seats.items()]}
        metrics.INPUT_BATCHES.inc()
        # A task, not an eager run: channels-redis (redis-py) needs to run inside a task.
        task = asyncio.ensure_future(self.relay.layer.send(owner, event))
        task.add_done_callback(functools.partial(self._sent, match_id, seats))

    def _sent(self, match_id: str, seats: dict[int, dict[str, Any]], task: asyncio.Future[Any]) -> None:
        """A batch the layer refused (ChannelFull, a layer error) is reported, and its inputs go
        with the next batch unless a newer one of the same seat came meanwhile: an input is the
        keys held, and a client that sends only on change would otherwise hold the old ones."""
        if task.cancelled() or (exc := task.exception()) is None:
            return
        LayerWatch.of(self.relay.layer).report("inputs.flush", exc, f"match {match_id}")
        pending = self.pending.get(match_id)
        if pending is None:
            self.pending[match_id] = dict(seats)
            self._schedule(match_id)
            return
        for seat, fields in seats.items():
            pending.setdefault(seat, fields)
