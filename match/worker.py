"""The tick worker: a consumer on the named channel ``match-tick`` that owns running matches.

With channels-redis a named channel is a work queue, so each ``match.start`` reaches exactly
one worker process; that worker then joins the match's owner group, where the match's
consumers send joins, leaves and inputs. ``make run`` hosts this same consumer in the server
process (the in-memory layer cannot reach another process); with Redis it also runs as
``manage.py runworker match-tick``.

With Redis every owned match is leased and checkpointed (match/survival.py), and every worker
scans for matches whose owner's lease expired: the first to take the lease resumes the match
and tells its server processes' relays where to send inputs now. A stopping worker hands its
matches over the same way when another tick worker is alive, and ends them aborted otherwise.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from gameserver import protocol
from gameserver.edge.consumer import EdgeWorker
from gameserver.edge.liveness import listeners_elsewhere
from gameserver.edge.recovery import LayerWatch
from gameserver.groups import MATCHMAKER_CHANNEL, TICK_CHANNEL, match_group, match_owner_group
from match import selectors, services
from match.games import get_game
from match.runner import MatchRunner
from match.survival import Keeper, MatchStore

SCAN_SECONDS = 0.5  # how often a worker looks for matches whose owner's lease expired

log = logging.getLogger(__name__)


def load_match(match_id: str, owner: str) -> dict[str, Any] | None:
    """Claim a waiting match for this worker and read what the runner needs, or None."""
    match = selectors.match_get(match_id=match_id)
    if match is None or not services.match_claim(match_id=str(match.pk), owner=owner):
        return None
    return {
        "game": match.game,
        "players": selectors.match_players(match=match),
        "settings": dict(match.settings),
        "seed": match.seed,
    }


class TickWorkerConsumer(EdgeWorker):
    """Thin adapter: routes channel-layer events to the MatchRunner of each owned match (one bad
    event is logged and counted by EdgeWorker, never fatal to the worker and its matches)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.runners: dict[str, MatchRunner] = {}
        self.store = MatchStore() if settings.REDIS_URL else None
        scanning = asyncio.ensure_future(self.scan()) if self.store is not None else None
        try:
            await super().__call__(scope, receive, send)
        finally:
            if scanning is not None:
                scanning.cancel()
            if self.store is not None:
                await self.store.close()

    async def match_start(self, event: dict[str, Any]) -> None:
        match_id = str(event["match_id"])
        if match_id in self.runners:
            return
        loaded = await database_sync_to_async(load_match)(match_id, self.channel_name)
        if loaded is None:
            log.info("tick worker: match %s is unknown, not waiting, or owned elsewhere", match_id)
            return
        if self.waiting() >= settings.MATCH_WAITING_MAX:
            await self._refuse(match_id)
            return
        runner = self._runner_for(match_id, loaded)
        if runner.keeper is not None:
            try:
                if not await runner.keeper.store.acquire(match_id, self.channel_name):
                    log.warning("tick worker: match %s claimed but its lease is held elsewhere", match_id)
                    return
                await runner.keeper.save(runner.checkpoint_bytes())
            except Exception as exc:  # Redis unreachable: the match runs, just not survivably
                LayerWatch.of(self.channel_layer).report(
                    "match.lease", exc, f"match {match_id} runs unleased"
                )
                runner.keeper = None
        await self._own(runner)
        log.info("tick worker: owns match %s", match_id)

    def waiting(self) -> int:
        """Matches this worker holds that still wait for their players."""
        return sum(1 for runner in self.runners.values() if runner.phase == protocol.PHASE_WAITING)

    async def _refuse(self, match_id: str) -> None:
        """MATCH_WAITING_MAX matches wait here already: end this one (claimed by this worker just
        now, so nobody else's) aborted instead of holding it too, and tell whoever waits for it:
        sockets already open on it and, for a lobby match, the matchmaker (which frees its
        players)."""
        log.warning(
            "tick worker: %d matches wait for players (MATCH_WAITING_MAX); match %s refused, aborted",
            self.waiting(),
            match_id,
        )
        result: dict[str, Any] = {"reason": "aborted", "tick": 0, "ranking": []}
        await database_sync_to_async(services.match_finish)(
            match_id=match_id, result=result, ticks=0, aborted=True, owner=self.channel_name
        )
        frame = protocol.encode(protocol.end_message(tick=0, result=result))
        try:
            await self.channel_layer.group_send(
                match_group(match_id), {"type": "match.end", "match": match_id, "frame": frame}
            )
            await self.channel_layer.send(
                MATCHMAKER_CHANNEL, {"type": "mm.match_ended", "match_id": match_id}
            )
        except Exception as exc:
            LayerWatch.of(self.channel_layer).report("match.refuse", exc, f"match {match_id} refused")

    def _runner_for(self, match_id: str, loaded: dict[str, Any]) -> MatchRunner:
        return MatchRunner(
            match_id=match_id,
            rules=get_game(loaded["game"]),
            players=loaded["players"],
            settings=loaded["settings"],
            seed=loaded["seed"],
            layer=self.channel_layer,
            owner_channel=self.channel_name,
            join_timeout=settings.MATCH_JOIN_TIMEOUT,
            on_released=self._release,
            grace_seconds=settings.MATCH_RECONNECT_GRACE,
            keeper=Keeper(self.store, match_id, self.channel_name, self.channel_layer)
            if self.store
            else None,
        )

    async def _own(self, runner: MatchRunner) -> None:
        self.runners[runner.match_id] = runner
        await self.channel_layer.group_add(match_owner_group(runner.match_id), self.channel_name)
        runner.start()

    # --- takeover --------------------------------------------------------------------------------

    async def scan(self) -> None:
        """Look for matches nobody holds the lease of, and take each over if first to lease it."""
        assert self.store is not None
        while True:
            await asyncio.sleep(SCAN_SECONDS)
            try:
                for match_id in await self.store.orphans(skip=set(self.runners)):
                    await self.take_over(match_id)
            except Exception as exc:
                LayerWatch.of(self.channel_layer).report("match.scan", exc, "looking for orphaned matches")

    async def take_over(self, match_id: str) -> None:
        assert self.store is not None
        if match_id in self.runners or not await self.store.acquire(match_id, self.channel_name):
            return
        try:
            await self._resume(match_id)
        except Exception:
            # A checkpoint these rules cannot read, or a log that does not replay: the match
            # cannot go on anywhere. End it aborted (once) rather than have every worker retry.
            log.exception("tick worker: could not take match %s over; aborting it", match_id)
            self.runners.pop(match_id, None)
            await database_sync_to_async(services.match_finish)(
                match_id=match_id,
                result={"reason": "aborted", "tick": 0, "ranking": []},
                ticks=0,
                aborted=True,
            )
            await self.store.forget(match_id)

    async def _resume(self, match_id: str) -> None:
        assert self.store is not None
        checkpoint = await self.store.load(match_id)
        match = await database_sync_to_async(selectors.match_get)(match_id=match_id)
        if checkpoint is None or match is None or match.is_over:
            await self.store.forget(match_id)  # over (its owner died right after the result)
            return
        loaded = {
            "game": match.game,
            "players": await database_sync_to_async(selectors.match_players)(match=match),
            "settings": dict(match.settings),
            "seed": match.seed,
        }
        runner = self._runner_for(match_id, loaded)
        replayed = runner.restore(checkpoint)
        await database_sync_to_async(services.match_take_over)(match_id=match_id, owner=self.channel_name)
        assert runner.keeper is not None
        await runner.keeper.save(runner.checkpoint_bytes())
        await self._own(runner)
        await self.channel_layer.group_discard(match_owner_group(match_id), checkpoint.owner)
        # The relays of the match's server processes send inputs here from now on, and their
        # sockets resynchronise from a snapshot of this worker's state.
        await self.channel_layer.group_send(
            match_group(match_id), {"type": "match.owner", "match": match_id, "owner": self.channel_name}
        )
        log.warning(
            "tick worker: took match %s over from %s at tick %s (checkpoint %s + %s logged ticks)",
            match_id,
            checkpoint.owner,
            runner.rules.tick(runner.state),
            checkpoint.tick,
            replayed,
        )

    async def shut_down(self) -> int:
        """The process is stopping: hand every match owned here to another tick worker if one is
        alive (with Redis), else end it aborted, each result written once. Returns how many
        were ended."""
        runners = list(self.runners.values())
        if self.store is not None and runners and await listeners_elsewhere(TICK_CHANNEL) > 0:
            handed = await asyncio.gather(*(runner.hand_over() for runner in runners), return_exceptions=True)
            kept = [r for r, ok in zip(runners, handed, strict=True) if ok is not True]
            log.info("tick worker: handed %d matches over (shutting down)", len(runners) - len(kept))
            runners = kept
        await asyncio.gather(*(runner.abort() for runner in runners), return_exceptions=True)
        if runners:
            log.info("tick worker: ended %d matches (shutting down)", len(runners))
        return len(runners)

    def groups_held(self) -> list[str]:
        return [match_owner_group(match_id) for match_id in self.runners]

    def _runner(self, event: dict[str, Any]) -> MatchRunner | None:
        """The runner an event is for; None for a match this worker does not (or no longer) own."""
        return self.runners.get(str(event["match_id"]))

    async def match_join(self, event: dict[str, Any]) -> None:
        if runner := self._runner(event):
            await runner.on_join(
                seat=int(event["seat"]), relay=str(event["relay"]), socket=int(event["socket"])
            )

    async def match_leave(self, event: dict[str, Any]) -> None:
        if runner := self._runner(event):
            await runner.on_leave(
                seat=int(event["seat"]), relay=str(event["relay"]), socket=int(event["socket"])
            )

    async def match_alive(self, event: dict[str, Any]) -> None:
        """A server process's relay lives and holds these seats of the match."""
        if runner := self._runner(event):
            seats = [
                [seat, socket]
                for seat, socket in event.get("seats", [])
                if type(seat) is int and type(socket) is int
            ]
            await runner.on_alive(relay=str(event["relay"]), seats=seats)

    async def match_inputs(self, event: dict[str, Any]) -> None:
        """One process's batch for one tick: the newest input of each of its seats."""
        if runner := self._runner(event):
            for seat, fields in event["inputs"]:
                if type(seat) is int and isinstance(fields, dict):
                    runner.on_input(seat=seat, fields=fields)

    async def _release(self, match_id: str) -> None:
        """Free everything the match held in this worker once its result is recorded."""
        self.runners.pop(match_id, None)
        await self.channel_layer.group_discard(match_owner_group(match_id), self.channel_name)
        log.info("tick worker: released match %s", match_id)
