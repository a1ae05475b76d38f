"""The tick worker: a consumer on the named channel ``match-tick`` that owns running matches.

With channels-redis a named channel is a work queue, so each ``match.start`` reaches exactly
one worker process; that worker then joins the match's owner group, where the match's
consumers send joins, leaves and inputs. ``make run`` hosts this same consumer in the server
process (the in-memory layer cannot reach another process); with Redis it also runs as
``manage.py runworker match-tick``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from gameserver.edge.consumer import EdgeWorker
from gameserver.groups import match_owner_group
from match import selectors, services
from match.games import get_game
from match.runner import MatchRunner

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
        await super().__call__(scope, receive, send)

    async def match_start(self, event: dict[str, Any]) -> None:
        match_id = str(event["match_id"])
        if match_id in self.runners:
            return
        loaded = await database_sync_to_async(load_match)(match_id, self.channel_name)
        if loaded is None:
            log.info("tick worker: match %s is unknown, not waiting, or owned elsewhere", match_id)
            return
        runner = MatchRunner(
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
        )
        self.runners[match_id] = runner
        await self.channel_layer.group_add(match_owner_group(match_id), self.channel_name)
        runner.start()
        log.info("tick worker: owns match %s", match_id)

    async def shut_down(self) -> int:
        """The process is stopping: end every match owned here, aborted, each result written once."""
        runners = list(self.runners.values())
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
