"""MatchConsumer: a player's socket into one match. It checks the ticket, hands inputs to this
process's input batcher and takes frames from this process's relay; it never simulates.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings

from gameserver import protocol
from gameserver.edge import metrics
from gameserver.edge.consumer import EdgeConsumer
from gameserver.edge.recovery import send_surely
from gameserver.edge.relay import Message, Relay
from gameserver.groups import TICK_CHANNEL, match_owner_group, match_seat_group
from gameserver.protocol import CloseCode, ErrorCode, ProtocolError
from match import selectors, services
from match.games import get_game
from match.models import Match
from match.rules import GameRules, InvalidInput
from match.tickets import TicketExpired, TicketInvalid, resume_issue, resume_verify, ticket_verify

log = logging.getLogger(__name__)

# How long a consumer waits for the owner's snapshot before asking again, and how many times.
JOIN_RETRY_SECONDS = 1.0
JOIN_ATTEMPTS = 10


class MatchConsumer(EdgeConsumer):
    """Binary msgpack frames only; limits per connection are documented in docs/protocol.md."""

    direct_delivery = True  # inputs at 20 Hz from every player
    match_id: str
    seat: int
    rules: GameRules
    relay: Relay
    sink_id: int | None = None

    async def connect(self) -> None:
        self.synced_tick: int | None = None
        self.synced = asyncio.Event()  # set when a snapshot arrives; ends the join retries
        self.join_task: asyncio.Task[None] | None = None
        self.setup_limits()
        self.handlers = {
            protocol.INPUT: self.on_input,
            protocol.PING: self.on_ping,
        }
        self.match_id = str(self.scope["url_route"]["kwargs"]["match_id"])

        # Accept before refusing so the client sees the 4xxx close code and the error message.
        await self.accept()
        refusal = await self.check_admission()
        if refusal is not None:
            await self.refuse(*refusal)
            return

        self.receiving = True
        await self.send_message(
            protocol.seat_message(seat=self.seat, resume=self.resume, grace=settings.MATCH_RECONNECT_GRACE)
        )
        self.relay = Relay.of(self.channel_layer)
        seat_group = match_seat_group(self.match_id, self.seat)
        await self.channel_layer.group_send(seat_group, {"type": "match.replaced", "by": self.channel_name})
        await self.group_join(seat_group)
        self.sink_id = await self.relay.attach(self.match_id, self)
        self.request_snapshot()

    async def check_admission(self) -> tuple[CloseCode, ErrorCode, str] | None:
        """Who may enter: the seat's resume credential, or a genuine, unexpired ticket for a
        seat nobody has claimed yet (so a leaked practice link cannot take a seat in use)."""
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        ticket = query.get("ticket", [""])[0]
        resume = query.get("resume", [""])[0]
        key_hash = ""
        if resume:  # coming back: no ticket needed, so a drop is never outlived by its expiry
            try:
                resumed = resume_verify(credential=resume)
            except TicketInvalid as exc:
                return CloseCode.UNAUTHORIZED, ErrorCode.RESUME_INVALID, str(exc)
            seat_no, match_id, key_hash = resumed.seat, resumed.match_id, resumed.key_hash
        else:
            try:
                claims = ticket_verify(ticket=ticket)
            except TicketExpired:
                return CloseCode.UNAUTHORIZED, ErrorCode.TICKET_EXPIRED, "the match ticket has expired"
            except TicketInvalid as exc:
                return CloseCode.UNAUTHORIZED, ErrorCode.TICKET_INVALID, f"bad match ticket: {exc}"
            seat_no, match_id = claims.seat, claims.match_id
            if claims.user_id is not None and self.user_pk() != claims.user_id:
                # A ticket the matchmaker issued names its player: a leaked one is useless to others.
                return CloseCode.FORBIDDEN, ErrorCode.WRONG_PLAYER, "the ticket is for another player"
        if match_id != self.match_id:
            return CloseCode.FORBIDDEN, ErrorCode.WRONG_MATCH, "the ticket is for another match"
        match: Match | None = await database_sync_to_async(selectors.match_get)(match_id=self.match_id)
        if match is None:
            return CloseCode.NOT_FOUND, ErrorCode.NO_SUCH_MATCH, f"no match {self.match_id!r}"
        if match.is_over:
            return CloseCode.GONE, ErrorCode.MATCH_OVER, f"the match is {match.status}"
        seat = next((s for s in match.seats.all() if s.seat == seat_no), None)
        if seat is None:
            return CloseCode.FORBIDDEN, ErrorCode.TICKET_INVALID, f"no seat {seat_no!r} in this match"
        if seat.user_id is not None and self.user_pk() != seat.user_id:
            return CloseCode.FORBIDDEN, ErrorCode.WRONG_PLAYER, "the seat is another player's"
        if resume:
            if not seat.resume_hash or not hmac.compare_digest(seat.resume_hash, key_hash):
                return CloseCode.UNAUTHORIZED, ErrorCode.RESUME_INVALID, "not this seat's resume credential"
        else:
            resume, new_hash = resume_issue(match_id=self.match_id, seat=seat_no)
            claimed = await database_sync_to_async(services.seat_claim)(
                match_id=self.match_id, seat=seat_no, resume_hash=new_hash
            )
            if not claimed:
                return (
                    CloseCode.REPLACED,
                    ErrorCode.SEAT_TAKEN,
                    "this seat is taken; only its resume credential opens it again",
                )
        self.seat = seat_no
        self.resume = resume
        self.rules = get_game(match.game)
        return None

    def user_pk(self) -> object:
        return getattr(self.scope.get("user"), "pk", None)

    def request_snapshot(self) -> None:
        """Ask the owner for a snapshot (again) unless a request is already under way."""
        if self.join_task is None or self.join_task.done():
            self.join_task = asyncio.ensure_future(self.join_until_synced())

    async def join_until_synced(self) -> None:
        """Ask the owner for a snapshot until one arrives (a worker may still be starting)."""
        for attempt in range(JOIN_ATTEMPTS):
            try:
                await self.channel_layer.group_send(
                    match_owner_group(self.match_id),
                    {
                        "type": "match.join",
                        "match_id": self.match_id,
                        "seat": self.seat,
                        "relay": self.relay.channel,
                        "socket": self.sink_id,
                    },
                )
            except Exception as exc:  # a layer error: the next attempt tries again
                metrics.layer_error("match.join", exc)
            try:
                await asyncio.wait_for(self.synced.wait(), JOIN_RETRY_SECONDS)
                return
            except TimeoutError:
                pass
            if attempt == 1:
                # No owner answered: the start may have been lost. Starting is idempotent.
                await self.attempt(
                    "match.start",
                    self.channel_layer.send(TICK_CHANNEL, {"type": "match.start", "match_id": self.match_id}),
                )
        await self.send_message(
            protocol.error_message(ErrorCode.UNAVAILABLE, "no tick worker answered for this match")
        )
        await self.close(code=int(CloseCode.UNAVAILABLE))

    async def cleanup(self) -> None:
        if self.join_task is not None and self.join_task is not asyncio.current_task():
            self.join_task.cancel()
        if self.sink_id is None:
            return  # never admitted
        owner = self.relay.owner(self.match_id)
        await self.attempt("relay.detach", self.relay.detach(self.match_id, self.sink_id))
        await self.group_leave(match_seat_group(self.match_id, self.seat))
        leave = {
            "type": "match.leave",
            "match_id": self.match_id,
            "seat": self.seat,
            "relay": self.relay.channel,
            "socket": self.sink_id,
        }
        if owner is not None:  # retried while its channel is full: else the seat stays present
            send_surely(self.channel_layer, owner, leave, "match.leave")
        else:  # no snapshot yet: whoever owns the match hears it through the owner group
            await self.attempt(
                "match.leave", self.channel_layer.group_send(match_owner_group(self.match_id), leave)
            )

    # --- client -> server --------------------------------------------------------------------

    def check_message(self, message: dict[str, Any]) -> str:
        return protocol.check_client_message(message)

    async def on_input(self, message: dict[str, Any]) -> None:
        try:
            self.rules.decode_input(message)
        except InvalidInput as exc:
            raise ProtocolError(ErrorCode.BAD_INPUT, str(exc)) from None
        if self.relay.owner(self.match_id) is None:
            raise ProtocolError(
                ErrorCode.NOT_READY, "input before the match state arrived; wait for the snapshot"
            )
        self.relay.inputs.put(self.match_id, self.seat, message)

    # --- relay -> client: plain methods, called in tick order; frames arrive encoded ----------

    def held_seat(self) -> int | None:
        return None if self.gone or self.closing else self.seat

    def relay_owner_changed(self) -> None:
        self.resync()

    def relay_snapshot(self, tick: int, message: Message) -> None:
        if self.write_now(message):
            self.synced_tick = tick
            self.synced.set()
        else:
            self.resync()

    def relay_frame(self, tick: int, message: Message) -> None:
        synced = self.synced_tick
        # Before our snapshot, or already covered by it: skip, so ticks stay in order.
        if synced is None or tick <= synced:
            return
        if tick != synced + 1:
            # The layer dropped a frame (a full channel): never forward a gap; resynchronise
            # with a fresh snapshot instead, and skip frames until it arrives.
            log.warning(
                "match %s seat %s: frame gap before tick %s; resyncing", self.match_id, self.seat, tick
            )
            self.resync()
            return
        if self.write_now(message):
            self.synced_tick = tick
        else:  # still writing an earlier frame (a slow reader): skip, then catch up by snapshot
            self.resync()

    def resync(self) -> None:
        if self.gone or self.closing:
            return
        metrics.FRAME_RESYNCS.inc()
        self.synced_tick = None
        self.synced.clear()
        self.request_snapshot()

    def relay_phase(self, message: Message) -> None:
        if self.synced_tick is not None:
            self.write_now(message)

    def relay_end(self, message: Message) -> None:
        if self.closing or self.gone:
            return  # the end came twice (the runner sends it surely), or the socket is going
        written = self.write_now(message)
        self.closing = True
        self.in_background(self.end_and_close(None if written else message))

    async def end_and_close(self, unwritten: Message | None) -> None:
        """The last message must not be skipped like a frame (a slow reader under uvicorn):
        wait for the write in flight, send ``end``, then close 1000."""
        if unwritten is not None and not self.gone:
            if self.pending_write is not None:
                await asyncio.wait([self.pending_write])
            try:
                await self.raw_send(unwritten)
            except Exception as exc:  # the socket went meanwhile: its cleanup runs
                self.transport_failed(exc)
                return
        await self.close(code=int(CloseCode.NORMAL))

    # --- channel layer -> client (low rate) ---------------------------------------------------

    async def match_replaced(self, event: dict[str, Any]) -> None:
        if event["by"] != self.channel_name:
            await self.send_message(
                protocol.error_message(ErrorCode.REPLACED, "a newer connection took this seat")
            )
            await self.close(code=int(CloseCode.REPLACED))
