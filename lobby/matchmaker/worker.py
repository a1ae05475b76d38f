"""MatchmakerConsumer: the worker on the named channel ``matchmaker`` that owns the lobby state.

Lobby consumers forward checked requests here; this adapter reads what a command needs from
the database (ratings), applies it to the pure ``Lobby`` and performs the resulting Outbox:
pushes to players, presence marks, and match creation. Commands and the periodic pass hold one
lock, so the state changes one step at a time. Exactly ONE matchmaker is active (``make run``
hosts it; with Redis, ``manage.py runworker matchmaker``, and a lease decides which one reads
the channel: gameserver/edge/lease.py): with channels-redis a named channel is a work queue, and
two matchmakers would each hold half the lobby. With Redis the lobby state is saved there
(lobby/matchmaker/saved.py) whenever it changed, at most every pass, and the next active
matchmaker goes on from it: parties, queues, ready checks and rooms survive a hand-over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from django.conf import settings

from gameserver import protocol
from gameserver.edge.consumer import EdgeWorker
from gameserver.edge.liveness import lease_holder
from gameserver.edge.recovery import LayerWatch
from gameserver.groups import MATCHMAKER_CHANNEL, lobby_group, lobby_user_group
from gameserver.protocol import ProtocolError
from gameserver.protocol import lobby as lp
from lobby.heartbeat import HEARTBEAT_SECONDS
from lobby.matchmaker.pairing import PairingConfig
from lobby.matchmaker.persist import lobby_dump, lobby_load
from lobby.matchmaker.saved import LobbyStore
from lobby.matchmaker.state import Lobby, LobbyConfig, Outbox, PendingMatch
from lobby.modes import game_infos, game_modes
from lobby.selectors.chat import chat_history
from lobby.selectors.stats import rating_changes_of_match, ratings_for, ratings_of
from lobby.services.matches import lobby_match_create
from lobby.services.presence import presence_reset, presence_set
from match.services import amatch_request_start, match_finish

log = logging.getLogger(__name__)

PASS_SECONDS = 0.25  # queue passes, timeouts and presence batches run this often
MATCH_GRACE_SECONDS = 120  # past its time limit, a match whose end never came frees its players


def config_from_settings() -> LobbyConfig:
    return LobbyConfig(
        pairing=PairingConfig(
            window_start=settings.MM_WINDOW_START,
            window_growth=settings.MM_WINDOW_GROWTH,
            window_max=settings.MM_WINDOW_MAX,
        ),
        party_max=settings.PARTY_MAX_SIZE,
        invite_ttl=settings.PARTY_INVITE_TTL,
        ready_timeout=settings.READY_CHECK_TIMEOUT,
        list_max=settings.LOBBY_LIST_MAX,
        server_timeout=3 * HEARTBEAT_SECONDS,
        reconnect_grace=settings.LOBBY_RECONNECT_GRACE,
        modes=game_modes(),
        games=game_infos(),
    )


Request = Callable[[Lobby, int, dict[str, Any], float], Awaitable[Outbox]]


class MatchmakerConsumer(EdgeWorker):
    """Thin adapter around ``Lobby``; see the module docstring."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.lobby = Lobby(config_from_settings())
        self.lock = asyncio.Lock()
        self.clock: asyncio.Task[None] | None = None
        self.saved = LobbyStore() if settings.REDIS_URL else None
        self.dirty = False  # the lobby changed since it was last saved
        self.last_saved = b""
        self.requests: dict[str, Request] = {
            lp.PARTY_INVITE: self.sync(
                lambda lb, u, m, now: lb.party_invite(user_id=u, target=m["player"], now=now)
            ),
            lp.PARTY_ACCEPT: self.sync(
                lambda lb, u, m, now: lb.party_accept(user_id=u, party_id=m["party"], now=now)
            ),
            lp.PARTY_DECLINE: self.sync(
                lambda lb, u, m, now: lb.party_decline(user_id=u, party_id=m["party"], now=now)
            ),
            lp.PARTY_LEAVE: self.sync(lambda lb, u, m, now: lb.party_leave(user_id=u, now=now)),
            lp.PARTY_KICK: self.sync(
                lambda lb, u, m, now: lb.party_kick(user_id=u, target=m["player"], now=now)
            ),
            lp.QUEUE_JOIN: self.queue_join,
            lp.QUEUE_LEAVE: self.sync(lambda lb, u, m, now: lb.queue_leave(user_id=u, now=now)),
            lp.READY: self.sync(
                lambda lb, u, m, now: lb.ready(user_id=u, check_id=m["check"], accept=m["accept"], now=now)
            ),
            lp.ROOM_CREATE: self.sync(
                lambda lb, u, m, now: lb.room_create(
                    user_id=u,
                    mode=m["mode"],
                    max_players=m["max"],
                    public=m["public"],
                    password=m.get("password", ""),
                    now=now,
                    game=m.get("game"),
                )
            ),
            lp.ROOM_JOIN: self.sync(
                lambda lb, u, m, now: lb.room_join(
                    user_id=u, code=m["code"], password=m.get("password", ""), now=now
                )
            ),
            lp.ROOM_LEAVE: self.sync(lambda lb, u, m, now: lb.room_leave(user_id=u, now=now)),
            lp.ROOM_START: self.room_start,
        }
        try:
            await super().__call__(scope, receive, send)
        finally:  # dropped (a lost lease, a stop): its clock must not act on a lobby it no longer owns
            if self.clock is not None:
                self.clock.cancel()
            if self.saved is not None:
                await self.saved.close()

    @staticmethod
    def sync(command: Callable[[Lobby, int, dict[str, Any], float], Outbox]) -> Request:
        async def run(lobby: Lobby, user_id: int, message: dict[str, Any], now: float) -> Outbox:
            return command(lobby, user_id, message, now)

        return run

    async def handle(self, message: dict[str, Any]) -> None:
        # EdgeWorker logs and counts a failure: one bad event never takes the lobby down.
        if self.clock is None:
            await self.boot()
        async with self.lock:
            self.dirty = True
            await super().handle(message)

    async def boot(self) -> None:
        """First message: take the lobby over from the last active matchmaker (with Redis),
        forget stale presence and ask every lobby socket to announce itself."""
        self.clock = asyncio.ensure_future(self.run_clock())
        restored = await self.restore()
        await database_sync_to_async(presence_reset)()
        if restored:
            await database_sync_to_async(presence_set)(changes=[(u, True) for u in self.lobby.members])
            # Pushes lost with the old matchmaker: every player is told where they stand now.
            out, now = Outbox(), time.monotonic()
            for user_id in self.lobby.members:
                for message in self.lobby.state_messages(user_id, now):
                    out.user(user_id, message)
            await self.perform(out, now)
        await self.channel_layer.group_send(lobby_group(), {"type": "lobby.resync"})

    async def restore(self) -> bool:
        if self.saved is None:
            return False
        try:
            raw = await self.saved.load()
            if raw is None:
                return False
            self.lobby = lobby_load(raw, self.lobby.config, time.monotonic())
        except Exception:
            log.exception("matchmaker: the saved lobby could not be read; starting an empty one")
            return False
        lobby = self.lobby
        log.warning(
            "matchmaker: lobby taken over: %d players, %d parties, %d queued, %d ready checks, %d rooms",
            len(lobby.members),
            len(lobby.parties),
            len(lobby.ticket_of),
            len(lobby.checks),
            len(lobby.rooms),
        )
        return True

    async def save(self) -> None:
        """Save the lobby if it changed (fenced by the lease); a failure is retried next pass."""
        if self.saved is None or not self.dirty:
            return
        holder = lease_holder(MATCHMAKER_CHANNEL)
        if holder is None:
            return
        data = lobby_dump(self.lobby, time.monotonic())
        self.dirty = False
        if data == self.last_saved:
            return
        try:
            if await self.saved.save(data, holder):
                self.last_saved = data
            else:
                log.warning("matchmaker: the lease is another process's now; lobby not saved")
        except Exception as exc:
            self.dirty = True
            LayerWatch.of(self.channel_layer).report("matchmaker.save", exc, "lobby state not saved")

    async def shut_down(self) -> int:
        """Stopping: save the lobby once more, so the next matchmaker starts from this moment."""
        async with self.lock:
            self.dirty = True
            await self.save()
        return 0

    async def run_clock(self) -> None:
        while True:
            await asyncio.sleep(PASS_SECONDS)
            try:
                async with self.lock:
                    now = time.monotonic()
                    for step in (
                        self.lobby.expire_invites,
                        self.lobby.expire_checks,
                        self.lobby.expire_matches,
                        self.lobby.expire_servers,
                        self.lobby.expire_away,
                        self.lobby.pass_queues,
                    ):
                        out = step(now)
                        self.dirty = self.dirty or bool(out.sends or out.matches or out.online)
                        await self.perform(out, now)
                    await self.perform(self.lobby.flush_presence(), now)
                    await self.save()
            except Exception:
                log.exception("matchmaker: periodic pass failed")

    # --- events from lobby consumers and tick workers -------------------------------------------

    async def mm_connect(self, event: dict[str, Any]) -> None:
        user_id, channel, now = int(event["user"]), str(event["channel"]), time.monotonic()
        if self.lobby.knows(user_id, channel):
            return  # a re-announce (resync) of a socket that already has its welcome
        out = self.lobby.connect(
            user_id=user_id,
            name=str(event["name"]),
            channel=channel,
            now=now,
            server=str(event.get("server", "")),
        )
        await self.perform(out, now)
        ratings = await database_sync_to_async(ratings_of)(user_id=user_id)
        chat = await database_sync_to_async(chat_history)(limit=settings.CHAT_HISTORY)
        welcome = lp.welcome_message(
            me={"id": user_id, "n": str(event["name"]), "guest": bool(event.get("guest", False))},
            ratings=ratings,
            chat=chat,
            **self.lobby.welcome_parts(user_id),
        )
        out = Outbox()
        for message in [welcome, *self.lobby.state_messages(user_id, now)]:
            out.channel(channel, message)
        await self.perform(out, now)

    async def mm_alive(self, event: dict[str, Any]) -> None:
        self.lobby.server_alive(server=str(event["server"]), now=time.monotonic())

    async def mm_disconnect(self, event: dict[str, Any]) -> None:
        now = time.monotonic()
        out = self.lobby.disconnect(
            user_id=int(event["user"]),
            channel=str(event["channel"]),
            now=now,
            leaving=bool(event.get("left", False)),
        )
        await self.perform(out, now)

    async def mm_request(self, event: dict[str, Any]) -> None:
        message: dict[str, Any] = event["message"]
        user_id, now = int(event["user"]), time.monotonic()
        try:
            out = await self.requests[message["t"]](self.lobby, user_id, message, now)
        except ProtocolError as exc:
            out = Outbox()
            out.channel(str(event["channel"]), protocol.error_message(exc.code, exc.detail, re=message["t"]))
        await self.perform(out, now)

    async def mm_match_ended(self, event: dict[str, Any]) -> None:
        """The tick worker recorded a result: free the players, tell them their new ratings."""
        match_id = str(event["match_id"])
        out = self.lobby.match_ended(match_id=match_id)
        for change in await database_sync_to_async(rating_changes_of_match)(match_id=match_id):
            out.user(
                change["user_id"],
                lp.rating_message(
                    mode=change["mode"],
                    match_id=match_id,
                    before=change["before"],
                    after=change["after"],
                    rank=change["rank"],
                    outcome=change["outcome"],
                    skill=change["skill"],
                ),
            )
        await self.perform(out, time.monotonic())

    # --- requests that need the database first ------------------------------------------------------

    async def queue_join(self, lobby: Lobby, user_id: int, message: dict[str, Any], now: float) -> Outbox:
        unit = lobby.unit_of(user_id)
        ratings = await database_sync_to_async(ratings_for)(user_ids=unit, mode=message["mode"])
        return lobby.queue_join(user_id=user_id, mode=message["mode"], ratings=ratings, now=now)

    async def room_start(self, lobby: Lobby, user_id: int, message: dict[str, Any], now: float) -> Outbox:
        room = lobby.rooms.get(lobby.room_of.get(user_id, ""))
        ratings = (
            await database_sync_to_async(ratings_for)(user_ids=room.members, mode=room.mode) if room else {}
        )
        return lobby.room_start(user_id=user_id, ratings=ratings, now=now)

    # --- performing an Outbox -----------------------------------------------------------------------

    async def perform(self, out: Outbox, now: float) -> None:
        frames: dict[int, bytes] = {}  # one encoding per message, however many receive it
        for kind, target, message in out.sends:
            frame = frames.get(id(message))
            if frame is None:
                frame = frames[id(message)] = protocol.encode(message)
            event = {"type": "lobby.push", "frame": frame}
            if kind == "user":
                await self.channel_layer.group_send(lobby_user_group(target), event)
            elif kind == "channel":
                try:
                    await self.channel_layer.send(target, event)
                except ChannelFull as exc:
                    # That socket is not reading (its process is overloaded): it misses this
                    # push; everyone else's, and the matches below, must not wait on it.
                    LayerWatch.of(self.channel_layer).report(
                        "matchmaker.push", exc, f"to {target}, {message.get('t')}"
                    )
            else:
                await self.channel_layer.group_send(lobby_group(), event)
        if out.online:
            await database_sync_to_async(presence_set)(changes=out.online)
        for pending in out.matches:
            await self.start_match(pending, now)

    async def start_match(self, pending: PendingMatch, now: float) -> None:
        try:
            match_id, ready = await database_sync_to_async(lobby_match_create)(
                mode=pending.mode,
                game=pending.game,
                teams=pending.teams,
                names=pending.names,
                rated=pending.source == "check",
            )
        except Exception:
            log.exception("matchmaker: could not create the match for %s %s", pending.source, pending.key)
            await self.perform(self.lobby.match_failed(pending, now), now)
            return
        until = now + settings.MATCH_JOIN_TIMEOUT + settings.MATCH_TIME_LIMIT + MATCH_GRACE_SECONDS
        try:
            await amatch_request_start(match_id=match_id)
        except Exception as exc:  # no tick worker can take it (its channel full, the layer down)
            # The row exists: end it aborted, so neither the players nor the match wait forever.
            LayerWatch.of(self.channel_layer).report("matchmaker.start", exc, f"match {match_id}")
            await database_sync_to_async(match_finish)(
                match_id=match_id,
                result={"reason": "aborted", "tick": 0, "ranking": []},
                ticks=0,
                aborted=True,
            )
            await self.perform(self.lobby.match_failed(pending, now), now)
            return
        ready_of = {seat["user_id"]: seat["message"] for seat in ready}
        await self.perform(self.lobby.match_created(pending, match_id, until=until, ready=ready_of), now)
        log.info(
            "matchmaker: %s %s match %s for %s", pending.mode, pending.game, match_id, sorted(pending.names)
        )
