"""The relay: this process's end of every match it has sockets of.

Frames out: the relay joins a match's group once per process (on the first local socket of
that match, leaves on the last), so the tick worker's one message per tick reaches one relay
per process, and the relay writes the already-encoded bytes to each local socket directly
(the socket's own ordering and gap check is a plain method the relay calls). No per-player
layer message, consumer receive or dispatch on the frame path. Snapshots come through the
relay too, so a socket's snapshot and the frames after it arrive in order on one channel.

Inputs in: see ``gameserver.edge.inputs``; the match's owner is learned here, from the
snapshots, so a new owner changes one address per process, not one per socket.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any, Protocol

from channels.layers import BaseChannelLayer
from django.conf import settings

from gameserver.edge import metrics
from gameserver.edge.inputs import InputBatcher
from gameserver.edge.perlayer import PerLayer
from gameserver.edge.recovery import LayerWatch
from gameserver.groups import match_group

log = logging.getLogger(__name__)

RETRY_SECONDS = 0.5  # after a failed layer receive (Redis restarting), wait before the next try
# How often the relay tells each match owner which of its seats it holds: the owner's sign that
# this process lives (match/runner.py drops the seats of a relay silent for 5 s).
ALIVE_SECONDS = 1.0

Message = dict[str, Any]


class FrameSink(Protocol):
    """A local socket of a match, as the relay sees it: plain methods, called in tick order."""

    def held_seat(self) -> int | None:
        """The seat this socket plays, or None once it is closing."""
        ...

    def relay_owner_changed(self) -> None:
        """The match has a new owner: drop the frame sequence and ask it for a snapshot."""
        ...

    def relay_snapshot(self, tick: int, message: Message) -> None: ...
    def relay_frame(self, tick: int, message: Message) -> None: ...
    def relay_phase(self, message: Message) -> None: ...
    def relay_end(self, message: Message) -> None: ...


class Relay(PerLayer):
    """One per channel layer (so one per server process, and one per test's fresh layer)."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        super().__init__(layer)
        self.channel = ""
        self.sinks: dict[str, dict[int, FrameSink]] = {}  # match -> sink id -> socket
        self.owners: dict[str, str] = {}  # match -> the owner's channel, from its snapshots
        self.last_frame: dict[str, float] = {}  # match -> loop time its newest frame arrived
        self.periods: dict[str, float] = {}  # match -> seconds per tick, from its snapshots
        self.inputs = InputBatcher(self)
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._alive_task: asyncio.Task[None] | None = None
        self._started: asyncio.Future[str] | None = None
        self._handlers: dict[str, Callable[[Message], None]] = {
            "match.frame": self.on_frame,
            "match.snapshot": self.on_snapshot,
            "match.phase": self.on_phase,
            "match.end": self.on_end,
            "match.owner": self.on_owner,
        }

    # --- sockets coming and going --------------------------------------------------------------

    async def attach(self, match_id: str, sink: FrameSink) -> int:
        """Register a local socket of a match; the first one joins the match's group."""
        channel = await self._start()
        sink_id = next(self._ids)
        local = self.sinks.get(match_id)
        if local is None:
            local = self.sinks[match_id] = {}
            local[sink_id] = sink
            await self.layer.group_add(match_group(match_id), channel)
        else:
            local[sink_id] = sink
        return sink_id

    async def detach(self, match_id: str, sink_id: int) -> None:
        """Forget a local socket; the last one of its match leaves the match's group."""
        local = self.sinks.get(match_id)
        if local is None or local.pop(sink_id, None) is None or local:
            return
        del self.sinks[match_id]
        for table in (self.owners, self.last_frame, self.periods):
            table.pop(match_id, None)
        self.inputs.forget(match_id)
        await self.layer.group_discard(match_group(match_id), self.channel)

    def owner(self, match_id: str) -> str | None:
        return self.owners.get(match_id)

    def next_tick_at(self, match_id: str, now: float) -> tuple[float, float] | None:
        """When the match's next frame is due here (loop time) and its period; None if unknown."""
        period = self.periods.get(match_id)
        last = self.last_frame.get(match_id)
        if period is None or last is None:
            return None
        due = last + period
        if due <= now:
            due += period * (int((now - due) / period) + 1)
        return due, period

    def period(self, match_id: str) -> float:
        return self.periods.get(match_id, 1.0 / settings.TICK_HZ)

    # --- the channel ---------------------------------------------------------------------------

    async def _start(self) -> str:
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                # The default prefix: channels-redis reads all of a process's channels from one
                # key named by it, so a channel with another prefix would never be read.
                self.channel = await self.layer.new_channel()
            except BaseException as exc:
                self._started.set_exception(exc)
                self._started = None
                raise
            self._task = asyncio.ensure_future(self._run())
            self._alive_task = asyncio.ensure_future(self._tell_alive())
            LayerWatch.of(self.layer).register(self)
            self._started.set_result(self.channel)
        return await asyncio.shield(self._started)

    async def _run(self) -> None:
        while True:
            try:
                event = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                LayerWatch.of(self.layer).report("relay.receive", exc, "retrying")
                await asyncio.sleep(RETRY_SECONDS)
                continue
            handler = self._handlers.get(event.get("type", ""))
            if handler is None:
                log.warning("relay: dropped event of unknown type %r", event.get("type"))
                continue
            try:
                handler(event)
            except Exception:
                metrics.HANDLER_ERRORS.labels(consumer="Relay", event=str(event.get("type"))).inc()
                log.exception("relay: handler for %r failed", event.get("type"))

    async def _tell_alive(self) -> None:
        """Every ALIVE_SECONDS, one message per match to its owner: the seats held here."""
        while True:
            await asyncio.sleep(ALIVE_SECONDS)
            for match_id, local in list(self.sinks.items()):
                owner = self.owners.get(match_id)
                if owner is None:
                    continue
                seats = [
                    [seat, sink_id]
                    for sink_id, sink in local.items()
                    if (seat := sink.held_seat()) is not None
                ]
                event = {"type": "match.alive", "match_id": match_id, "relay": self.channel, "seats": seats}
                try:
                    await self.layer.send(owner, event)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the owner's channel full, Redis restarting: next second
                    LayerWatch.of(self.layer).report("relay.alive", exc, f"match {match_id}")

    async def rejoin_groups(self) -> None:
        """After a layer failure (a restarted Redis forgets groups), join every match's group again."""
        for match_id in list(self.sinks):
            await self.layer.group_add(match_group(match_id), self.channel)

    # --- events from the match owners (all plain functions: nothing here waits) -----------------

    def on_frame(self, event: Message) -> None:
        match_id = event["match"]
        local = self.sinks.get(match_id)
        if not local:
            return
        self.last_frame[match_id] = asyncio.get_running_loop().time()
        tick = event["tick"]
        message = {"type": "websocket.send", "bytes": event["frame"]}  # one dict for every socket
        for sink in tuple(local.values()):
            try:
                sink.relay_frame(tick, message)
            except Exception:
                metrics.HANDLER_ERRORS.labels(consumer="Relay", event="match.frame").inc()
                log.exception("relay: match %s: a socket failed on tick %s", match_id, tick)
        metrics.FRAMES_RELAYED.inc(len(local))

    def on_snapshot(self, event: Message) -> None:
        match_id = event["match"]
        sink = self.sinks.get(match_id, {}).get(event["socket"])
        if sink is None:
            return  # that socket left meanwhile
        self.owners[match_id] = event["owner"]
        self.periods[match_id] = 1.0 / event["hz"]
        sink.relay_snapshot(event["tick"], {"type": "websocket.send", "bytes": event["frame"]})

    def on_phase(self, event: Message) -> None:
        message = {"type": "websocket.send", "bytes": event["frame"]}
        for sink in tuple(self.sinks.get(event["match"], {}).values()):
            sink.relay_phase(message)

    def on_owner(self, event: Message) -> None:
        """Another tick worker took the match over: inputs go there now, and every local
        socket of the match resynchronises from a snapshot of its state."""
        match_id = event["match"]
        local = self.sinks.get(match_id)
        if not local:
            return
        self.owners[match_id] = event["owner"]
        self.inputs.forget(match_id)
        for sink in tuple(local.values()):
            sink.relay_owner_changed()

    def on_end(self, event: Message) -> None:
        message = {"type": "websocket.send", "bytes": event["frame"]}
        for sink in tuple(self.sinks.get(event["match"], {}).values()):
            sink.relay_end(message)
