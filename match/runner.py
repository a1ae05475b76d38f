"""One running match inside a tick worker: phases, the fixed-rate clock, and broadcasting.

The runner owns the authoritative state. It applies the inputs buffered since the last tick,
steps the pure game rules, encodes each frame ONCE and hands the bytes to the channel layer,
so consumers only forward bytes and never simulate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer

from gameserver import protocol
from gameserver.edge.recovery import LayerWatch, send_surely
from gameserver.groups import MATCHMAKER_CHANNEL, match_group
from match import services
from match.rules import GameRules, InvalidInput, PlayerSpec
from match.survival import Checkpoint, Fenced, Keeper, encode_checkpoint

log = logging.getLogger(__name__)

# If the loop falls this far behind (a long GC pause, a stalled database), stop catching up
# tick by tick and re-base the clock instead of bursting dozens of frames at once.
MAX_LAG_SECONDS = 1.0
# A server process's relay says every RELAY_ALIVE_SECONDS which seats it holds (Relay); one
# silent this long died (SIGKILL), and its seats count as dropped: their grace period starts.
RELAY_TIMEOUT_SECONDS = 5.0
# After a takeover, the seats present at the checkpoint count as present on this stand-in relay
# until their real relays speak (within a second) or stay silent (then they are dropped).
TAKEN_OVER = "?"


class MatchRunner:
    """Drives one match from waiting, through running, to its single recorded result."""

    def __init__(
        self,
        *,
        match_id: str,
        rules: GameRules,
        players: list[PlayerSpec],
        settings: dict[str, Any],
        seed: int,
        layer: BaseChannelLayer,
        owner_channel: str,
        join_timeout: float,
        on_released: Callable[[str], Awaitable[None]],
        grace_seconds: int = 30,
        keeper: Keeper | None = None,
    ) -> None:
        self.match_id = match_id
        self.rules = rules
        self.seats = len(players)
        self.hz: int = settings["tick_hz"]
        self.state = rules.initial_state(players=players, settings=settings, seed=seed)
        self.layer = layer
        self.owner_channel = owner_channel
        self.group = match_group(match_id)
        self.join_timeout = join_timeout
        self.on_released = on_released
        self.phase = protocol.PHASE_WAITING
        self.present: dict[int, str] = {}  # seat -> "relay#socket" of the connection on it
        self.pending: dict[int, Any] = {}  # seat -> newest decoded input since the last tick
        self.grace_ticks = max(1, grace_seconds * self.hz)
        self.away: dict[int, int] = {}  # seat -> tick at which it forfeits unless it comes back
        self.forfeited: set[int] = set()
        self.relay_seen: dict[str, float] = {}  # relay channel -> loop time of its last word
        self.pending_raw: dict[int, dict[str, Any] | None] = {}  # as received (None: idle), for the log
        self.keeper = keeper  # with Redis: lease, checkpoints and input log (match/survival.py)
        self.task: asyncio.Task[None] | None = None  # held: the loop keeps tasks only weakly
        self.holding: asyncio.Task[None] | None = None
        self.aborting = False
        self.handing_over = False
        self.fenced = False
        self._started = asyncio.Event()

    # --- lifecycle hooks (called by the worker consumer) -----------------------------------

    def start(self) -> None:
        self.task = asyncio.ensure_future(self._lifecycle())
        if self.keeper is not None:
            self.holding = asyncio.ensure_future(self.keeper.hold(self._lease_lost))

    def restore(self, checkpoint: Checkpoint) -> int:
        """Take over from a dead (or stopped) owner: the checkpoint's state, then every logged
        tick replayed through the same pure rules, so the match goes on from the last tick the
        old owner logged. Returns the ticks replayed."""
        state = self.rules.state_from_bytes(checkpoint.state)
        forfeited = set(checkpoint.forfeited)
        away = dict(checkpoint.away)
        for tick, inputs, forfeits in checkpoint.log:
            if tick != self.rules.tick(state):
                raise ValueError(
                    f"match {self.match_id}: log entry for tick {tick!r} after {self.rules.tick(state)}"
                )
            for seat in forfeits:
                state, _events = self.rules.forfeit(state, seat)
                forfeited.add(seat)
                away.pop(seat, None)
            decoded = {
                seat: self.rules.idle_input(state, seat)
                if fields is None
                else self.rules.decode_input(fields)
                for seat, fields in inputs
            }
            state, _events = self.rules.step(state, decoded)
        self.state, self.forfeited, self.away = state, forfeited, away
        self.phase = checkpoint.phase
        if self.phase == protocol.PHASE_RUNNING:
            self._started.set()
        self.present = {
            seat: f"{TAKEN_OVER}#0"
            for seat in range(self.seats)
            if seat not in away and seat not in forfeited
        }
        self.relay_seen[TAKEN_OVER] = asyncio.get_running_loop().time()
        return len(checkpoint.log)

    async def hand_over(self) -> bool:
        """Stop here and leave the match to another tick worker (the process is stopping): a
        last checkpoint, the lease given up, no result. False if it cannot be handed over."""
        if self.keeper is None or self.task is None or self.task.done() or self.phase == protocol.PHASE_OVER:
            return False
        self.handing_over = True
        self.task.cancel()
        await asyncio.wait([self.task])
        return True

    def _lease_lost(self) -> None:
        self.fenced = True
        if self.task is not None:
            self.task.cancel()

    def checkpoint_bytes(self) -> bytes:
        return encode_checkpoint(
            tick=self.rules.tick(self.state),
            state=self.rules.state_bytes(self.state),
            phase=self.phase,
            away=self.away,
            forfeited=sorted(self.forfeited),
            owner=self.owner_channel,
        )

    async def abort(self) -> None:
        """End the match now with an aborted result (written once): the process is stopping."""
        if self.task is None or self.task.done() or self.phase == protocol.PHASE_OVER:
            return
        self.aborting = True
        self.task.cancel()
        await asyncio.wait([self.task])

    async def on_join(self, *, seat: int, relay: str, socket: int) -> None:
        """A player (re)connected: send them the full state, then frames follow in order."""
        if not 0 <= seat < self.seats:
            return
        self.present[seat] = f"{relay}#{socket}"
        self._heard_from(relay)
        came_back = self.away.pop(seat, None) is not None
        tick = self.rules.tick(self.state)
        message = protocol.snapshot_message(
            tick=tick,
            seat=seat,
            phase=self.phase,
            state=self.rules.snapshot(self.state),
            acks=self.rules.acks(self.state),
            game=self.rules.name,
        )
        # Through the socket's relay, so the snapshot and the frames after it stay in order.
        await self._send(
            relay,
            {
                "type": "match.snapshot",
                "match": self.match_id,
                "socket": socket,
                "tick": tick,
                "owner": self.owner_channel,
                "hz": self.hz,
                "frame": protocol.encode(message),
            },
        )
        if self.phase == protocol.PHASE_WAITING:
            await self._broadcast_phase()
            if len(self.present) == self.seats:
                self._begin_running()
        else:
            # Also when the seat never counted as gone (a replaced tab, a join before its old
            # socket's leave): the newcomer learns who is away, since the snapshot does not say.
            if came_back:
                log.info("match %s: seat %s is back", self.match_id, seat)
            await self._broadcast_phase()

    async def on_leave(self, *, seat: int, relay: str, socket: int) -> None:
        # Only the current connection of a seat may vacate it (a replaced one must not).
        if self.present.get(seat) == f"{relay}#{socket}":
            await self._drop(seat)

    async def on_alive(self, *, relay: str, seats: list[list[int]]) -> None:
        """A relay's periodic word: it lives, and holds exactly these ``[seat, socket]``. A seat
        it holds that we count as dropped (its word was late, a layer outage, a takeover) is
        present again; a seat we place on it that it no longer holds (a lost leave) is dropped."""
        self._heard_from(relay)
        if self.phase == protocol.PHASE_OVER:
            return
        changed = False
        held = set()
        for seat, socket in seats:
            if not 0 <= seat < self.seats or seat in self.forfeited:
                continue
            held.add(seat)
            current = self.present.get(seat)
            if current is None or current.startswith(f"{TAKEN_OVER}#"):
                self.present[seat] = f"{relay}#{socket}"
                changed = self.away.pop(seat, None) is not None or current is None or changed
        for seat, connection in list(self.present.items()):
            if connection.rsplit("#", 1)[0] == relay and seat not in held:
                await self._drop(seat)
        if changed:
            await self._broadcast_phase()

    async def _drop(self, seat: int) -> None:
        """The seat's connection is gone; in a running match its grace period starts."""
        del self.present[seat]
        if self.phase == protocol.PHASE_OVER:
            return
        if self.phase == protocol.PHASE_RUNNING:
            # An absent player stands still instead of running and firing on held keys.
            self.pending[seat] = self.rules.idle_input(self.state, seat)
            self.pending_raw[seat] = None
            if seat not in self.forfeited:
                self.away[seat] = self.rules.tick(self.state) + self.grace_ticks
                log.info("match %s: seat %s dropped; it forfeits unless back in time", self.match_id, seat)
        await self._broadcast_phase()

    def _heard_from(self, relay: str) -> None:
        self.relay_seen[relay] = asyncio.get_running_loop().time()

    async def _drop_silent_relays(self) -> None:
        """Seats held by a relay that stopped talking (its process died) are dropped."""
        now = asyncio.get_running_loop().time()
        for seat, connection in list(self.present.items()):
            relay = connection.rsplit("#", 1)[0]
            if now - self.relay_seen.get(relay, now) > RELAY_TIMEOUT_SECONDS:
                log.warning("match %s: the relay of seat %s went silent", self.match_id, seat)
                await self._drop(seat)

    def on_input(self, *, seat: int, fields: dict[str, Any]) -> None:
        if not 0 <= seat < self.seats or self.phase == protocol.PHASE_OVER:
            return
        try:
            self.pending[seat] = self.rules.decode_input(fields)
            self.pending_raw[seat] = fields
        except InvalidInput:
            # The consumer validated it already; a bad one here is a bug elsewhere, not fatal.
            log.warning("match %s: dropped invalid input from seat %s: %r", self.match_id, seat, fields)

    # --- internals -------------------------------------------------------------------------

    async def _lifecycle(self) -> None:
        try:
            if self.phase == protocol.PHASE_WAITING:
                await self._wait_for_players()
            if self.phase == protocol.PHASE_RUNNING:
                await self._run_clock()
                await self._finish(self.rules.result(self.state), aborted=False)
            else:
                await self._finish_aborted()
        except (asyncio.CancelledError, Fenced) as exc:
            if self.fenced or isinstance(exc, Fenced):
                log.warning(
                    "match %s: another tick worker owns it now; stopped here, no result", self.match_id
                )
            elif self.handing_over:
                await self._give_up()
            elif self.aborting:
                log.info("match %s: aborted (the process is stopping)", self.match_id)
                await self._finish_aborted()
            else:
                raise
        except Exception:
            log.exception("match %s: runner failed; aborting the match", self.match_id)
            await self._finish_aborted()
        finally:
            if self.holding is not None:
                self.holding.cancel()
            await self.on_released(self.match_id)

    async def _give_up(self) -> None:
        """The hand-over's last step: checkpoint and release, so another worker resumes at once."""
        assert self.keeper is not None
        try:
            await self.keeper.save(self.checkpoint_bytes())
            await self.keeper.store.release(self.match_id, self.owner_channel)
            log.info("match %s: handed over at tick %s", self.match_id, self.rules.tick(self.state))
        except Exception:
            log.exception(
                "match %s: hand-over failed; its lease expires and another worker resumes it", self.match_id
            )

    async def _wait_for_players(self) -> None:
        try:
            await asyncio.wait_for(self._started.wait(), timeout=self.join_timeout)
        except TimeoutError:
            if len(self.present) >= self.rules.min_players:
                self._begin_running()  # start with whoever came; absent seats stand idle

    def _begin_running(self) -> None:
        if self.phase != protocol.PHASE_WAITING:
            return
        self.phase = protocol.PHASE_RUNNING
        if self.keeper is not None:
            self.keeper.checkpointed = None  # the first tick checkpoints the running match
        # A seat that never came has the same grace as one that dropped: then it forfeits.
        for seat in range(self.seats):
            if seat not in self.present:
                self.away[seat] = self.rules.tick(self.state) + self.grace_ticks
        self._started.set()

    async def _run_clock(self) -> None:
        """Fixed-rate loop: tick n is due at start + n/hz, so sleep jitter never accumulates."""
        await database_sync_to_async(services.match_mark_running)(match_id=self.match_id)
        await self._broadcast_phase()
        loop = asyncio.get_running_loop()
        period = 1.0 / self.hz
        start = loop.time()
        ticks = 0
        while not self.rules.is_over(self.state):
            ticks += 1
            delay = start + ticks * period - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif -delay > MAX_LAG_SECONDS:
                log.warning("match %s: %.2fs behind, re-basing the clock", self.match_id, -delay)
                start -= delay
            await self._tick()
            if ticks % self.hz == 0:
                await self._drop_silent_relays()

    async def _tick(self) -> None:
        inputs, self.pending = self.pending, {}
        raw, self.pending_raw = self.pending_raw, {}
        prev = state = self.state
        events: list[list[Any]] = []
        due = [seat for seat, at in self.away.items() if at <= self.rules.tick(prev)]
        for seat in due:  # before the step, so this tick's frame carries it and may end the match
            del self.away[seat]
            self.forfeited.add(seat)
            state, forfeit_events = self.rules.forfeit(state, seat)
            events += forfeit_events
            log.info("match %s: seat %s forfeits (not back within the grace period)", self.match_id, seat)
        self.state, step_events = self.rules.step(state, inputs)
        events += step_events
        if self.keeper is not None:  # what a new owner replays: forfeits, then inputs, then step
            self.keeper.log([self.rules.tick(prev), [[seat, raw.get(seat)] for seat in inputs], due])
        if due:
            await self._broadcast_phase()
        tick = self.rules.tick(self.state)
        frame = protocol.encode(
            protocol.frame_message(
                tick=tick,
                delta=self.rules.delta(prev, self.state),
                acks=self.rules.acks(self.state),
                events=events,
            )
        )
        # ONE message per tick; each server process's relay writes it to its own sockets.
        await self._group_send({"type": "match.frame", "match": self.match_id, "tick": tick, "frame": frame})
        if self.keeper is not None:
            await self.keeper.after_tick(tick, self.checkpoint_bytes)

    async def _broadcast_phase(self) -> None:
        frame = protocol.encode(
            protocol.phase_message(
                phase=self.phase,
                present=sorted(self.present),
                away=[[seat, at] for seat, at in sorted(self.away.items())],
            )
        )
        await self._group_send({"type": "match.phase", "match": self.match_id, "frame": frame})

    async def _group_send(self, event: dict[str, Any]) -> None:
        """Broadcast to the match's relays; a layer error is counted and the clock goes on
        (a relay that missed a frame sees the gap and its sockets resync from a snapshot)."""
        try:
            await self.layer.group_send(self.group, event)
        except Exception as exc:
            self._layer_failed("group_send", event, exc)

    async def _send(self, channel: str, event: dict[str, Any]) -> None:
        try:
            await self.layer.send(channel, event)
        except Exception as exc:
            self._layer_failed("send", event, exc)

    def _layer_failed(self, what: str, event: dict[str, Any], exc: Exception) -> None:
        LayerWatch.of(self.layer).report(f"runner.{what}", exc, f"match {self.match_id}, {event['type']}")

    async def _finish_aborted(self) -> None:
        """An aborted result (no ranking): nobody came, the runner failed, or the process stops."""
        tick = self.rules.tick(self.state)
        await self._finish({"reason": "aborted", "tick": tick, "ranking": []}, aborted=True)

    async def _finish(self, result: dict[str, Any], *, aborted: bool) -> None:
        """Write the result once, tell every player, then let the worker release the match."""
        self.phase = protocol.PHASE_OVER
        tick = self.rules.tick(self.state)
        written = await database_sync_to_async(services.match_finish)(
            match_id=self.match_id,
            result=result,
            ticks=tick,
            aborted=aborted,
            owner=self.owner_channel if self.keeper is not None else None,
        )
        if not written:
            log.warning("match %s: result was already recorded; not writing it again", self.match_id)
        frame = protocol.encode(protocol.end_message(tick=tick, result=result))
        end = {"type": "match.end", "match": self.match_id, "frame": frame}
        await self._group_send(end)
        # No later message makes up for a lost end (a frame's loss is made up by a snapshot): a
        # relay whose channel was full would keep its sockets open on a match that is over. So
        # every relay heard from gets it again, retried while its channel is full (each socket
        # takes the first). The lobby frees the players and tells them their new ratings.
        for relay in self.relay_seen:
            send_surely(self.layer, relay, end, "runner.end")
        send_surely(
            self.layer,
            MATCHMAKER_CHANNEL,
            {"type": "mm.match_ended", "match_id": self.match_id},
            "runner.ended",
        )
        if self.keeper is not None:
            try:
                await self.keeper.store.finish(self.match_id, self.owner_channel)
            except Exception as exc:  # a later scan finds it over in the database and forgets it
                self._layer_failed("finish", {"type": "match.finish"}, exc)
