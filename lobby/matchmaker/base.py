"""What every part of the lobby state shares: the state itself and a few lookups. The parts
(presence, parties, queues, rooms) are mixins of ``Lobby``; a part that needs another part's
method finds it declared here."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from gameserver.protocol import ErrorCode
from gameserver.protocol import lobby as lp
from lobby.matchmaker.model import (
    Check,
    LobbyConfig,
    Member,
    Outbox,
    Party,
    Room,
    lobby_error,
    status_text,
)
from lobby.matchmaker.pairing import (
    Ticket,
)


class LobbyBase:
    """Every command takes ``now`` (seconds, monotonic) and returns an Outbox."""

    def __init__(self, config: LobbyConfig) -> None:
        self.config = config
        self.members: dict[int, Member] = {}
        self.parties: dict[int, Party] = {}
        self.party_of: dict[int, int] = {}
        self.queues: dict[str, list[Ticket]] = {mode: [] for mode in config.modes}
        self.ticket_of: dict[int, Ticket] = {}
        self.checks: dict[int, Check] = {}
        self.check_of: dict[int, int] = {}
        self.rooms: dict[str, Room] = {}
        self.room_of: dict[int, str] = {}
        self.in_match: dict[int, str] = {}
        self.ready_of: dict[int, dict[str, Any]] = {}  # player -> their match_ready, for new tabs
        self.match_expiry: dict[str, float] = {}  # match id -> when to stop waiting for its end
        self.ids = itertools.count(1)
        self.sockets: dict[str, tuple[int, str]] = {}  # channel -> (player, server process)
        self.server_seen: dict[str, float] = {}  # server process -> last sign of life
        self.away: dict[int, float] = {}  # player with no socket -> when they leave everything
        self.joined: dict[int, str] = {}  # presence changes not yet pushed
        self.left: set[int] = set()

    # --- helpers ------------------------------------------------------------------------------

    def ref(self, user_id: int) -> dict[str, Any]:
        member = self.members.get(user_id)
        return lp.player_ref(user_id, member.name if member else "?")

    def status_of(self, user_id: int) -> str:
        """What the player is doing: idle, queued, checking, room or match (one at a time)."""
        if user_id in self.in_match:
            return "match"
        if user_id in self.check_of:
            return "checking"
        if user_id in self.ticket_of:
            return "queued"
        if user_id in self.room_of:
            return "room"
        return "idle"

    def require_idle(self, user_ids: list[int], doing: str) -> None:
        codes = {
            "match": ErrorCode.IN_MATCH,
            "checking": ErrorCode.BUSY,
            "queued": ErrorCode.ALREADY_QUEUED,
            "room": ErrorCode.IN_ROOM,
        }
        for user_id in user_ids:
            status = self.status_of(user_id)
            if status != "idle":
                who = "you are" if len(user_ids) == 1 else f"{self.ref(user_id)['n']!r} is"
                raise lobby_error(codes[status], f"cannot {doing}: {who} {status_text(status)}")

    def unit_of(self, user_id: int) -> list[int]:
        """The players who queue together with ``user_id``: the party, or just them."""
        party_id = self.party_of.get(user_id)
        return list(self.parties[party_id].members) if party_id else [user_id]

    # --- implemented by the parts (declared so each part can call the others) -----------------

    def party_message(self, party_id: int) -> dict[str, Any]:
        raise NotImplementedError

    def invites_for(self, user_id: int, now: float) -> Iterator[int]:
        raise NotImplementedError

    def invite_message(self, party_id: int, user_id: int, now: float) -> dict[str, Any]:
        raise NotImplementedError

    def tell_party(self, party: Party, out: Outbox) -> None:
        raise NotImplementedError

    def party_remove(self, user_id: int, now: float, out: Outbox) -> None:
        raise NotImplementedError

    def settle(self, party: Party, out: Outbox) -> None:
        raise NotImplementedError

    def queue_message(
        self, ticket: Ticket | None, now: float, counts: tuple[int, int] | None = None
    ) -> dict[str, Any]:
        raise NotImplementedError

    def drop_ticket(self, ticket: Ticket, now: float, out: Outbox) -> None:
        raise NotImplementedError

    def found_message(self, check: Check, now: float) -> dict[str, Any]:
        raise NotImplementedError

    def answer_check(
        self, check: Check, user_id: int, *, accept: bool, now: float, out: Outbox, reason: str
    ) -> None:
        raise NotImplementedError

    def room_view(self, room: Room | None, *, members: bool = True) -> dict[str, Any] | None:
        raise NotImplementedError

    def public_rooms(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def room_remove(self, user_id: int, out: Outbox) -> None:
        raise NotImplementedError
