"""The lobby's shared state, owned by the matchmaker: presence, parties, queues, ready checks,
rooms. Pure and synchronous: every command returns an ``Outbox`` of messages to send and
matches to create; the worker performs them. One owner, commands applied one at a time, so no
player can be in two queues, checks or matches at once: every move checks ``status_of`` first.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gameserver import protocol
from gameserver.protocol import ErrorCode, ProtocolError
from gameserver.protocol import lobby as lp
from lobby.matchmaker.pairing import (
    MATCH_SIZE,
    TEAM_SIZE,
    PairingConfig,
    Ticket,
    balance,
    find_group,
    split_teams,
    window,
)

# Room sizes by mode: (fewest players to start, most allowed).
ROOM_LIMITS = {lp.DUEL: (2, 2), lp.TEAM: (2, 4), lp.FFA: (2, 8)}
STATUS_INTERVAL = 1.0  # seconds between queue status pushes


class LobbyError(ProtocolError):
    """A request that is well formed but not allowed now; answered with an error, no strike."""


@dataclass(frozen=True)
class LobbyConfig:
    pairing: PairingConfig
    party_max: int
    invite_ttl: float
    ready_timeout: float
    list_max: int
    server_timeout: float = 30.0  # seconds without a heartbeat before a server counts as dead


@dataclass
class Member:
    user_id: int
    name: str
    channels: set[str] = field(default_factory=set)


@dataclass
class Party:
    id: int
    leader: int
    members: list[int]
    invites: dict[int, float] = field(default_factory=dict)  # user -> expiry


@dataclass
class Check:
    """A ready check: the found match waits for every player to accept."""

    id: int
    mode: str
    tickets: list[Ticket]
    teams: list[list[int]]
    deadline: float
    accepted: set[int] = field(default_factory=set)

    @property
    def players(self) -> list[int]:
        return [m for team in self.teams for m in team]


@dataclass
class Room:
    code: str
    host: int
    mode: str
    max: int
    public: bool
    password: str
    members: list[int]


@dataclass
class PendingMatch:
    """A match the worker must create: from a ready check (rated) or a room (unrated)."""

    source: str  # "check" or "room"
    key: int | str  # check id or room code
    mode: str
    teams: list[list[int]]
    names: dict[int, str]


@dataclass
class Outbox:
    """What a command wants done: (target kind, target, message) and matches to create."""

    sends: list[tuple[str, Any, dict[str, Any]]] = field(default_factory=list)
    matches: list[PendingMatch] = field(default_factory=list)
    online: list[tuple[int, bool]] = field(default_factory=list)

    def user(self, user_id: int, message: dict[str, Any]) -> None:
        self.sends.append(("user", user_id, message))

    def channel(self, channel: str, message: dict[str, Any]) -> None:
        self.sends.append(("channel", channel, message))

    def everyone(self, message: dict[str, Any]) -> None:
        self.sends.append(("all", None, message))


def _fail(code: ErrorCode, detail: str) -> LobbyError:
    return LobbyError(code, detail)


class Lobby:
    """Every command takes ``now`` (seconds, monotonic) and returns an Outbox."""

    def __init__(self, config: LobbyConfig) -> None:
        self.config = config
        self.members: dict[int, Member] = {}
        self.parties: dict[int, Party] = {}
        self.party_of: dict[int, int] = {}
        self.queues: dict[str, list[Ticket]] = {mode: [] for mode in lp.MODES}
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
                raise _fail(codes[status], f"cannot {doing}: {who} {status_text(status)}")

    def unit_of(self, user_id: int) -> list[int]:
        """The players who queue together with ``user_id``: the party, or just them."""
        party_id = self.party_of.get(user_id)
        return list(self.parties[party_id].members) if party_id else [user_id]

    # --- presence -----------------------------------------------------------------------------

    def knows(self, user_id: int, channel: str) -> bool:
        member = self.members.get(user_id)
        return member is not None and channel in member.channels

    def connect(self, *, user_id: int, name: str, channel: str, now: float, server: str = "") -> Outbox:
        """``server``: the process holding the socket, which must keep saying it is alive."""
        out = Outbox()
        self.sockets[channel] = (user_id, server)
        self.server_seen[server] = now
        member = self.members.get(user_id)
        if member is None:
            member = self.members[user_id] = Member(user_id=user_id, name=name)
            self.left.discard(user_id)
            self.joined[user_id] = name
            out.online.append((user_id, True))
        member.channels.add(channel)
        return out

    def welcome_parts(self, user_id: int) -> dict[str, Any]:
        """Presence and rooms for a ``welcome``; the worker adds ratings and chat history."""
        players = [
            lp.player_ref(m.user_id, m.name)
            for m in itertools.islice(self.members.values(), self.config.list_max)
        ]
        return {"online": len(self.members), "players": players, "rooms": self.public_rooms()}

    def state_messages(self, user_id: int, now: float) -> list[dict[str, Any]]:
        """Everything a new tab of this player must know: party, queue, check, room."""
        messages = [self.party_message(self.party_of.get(user_id, 0))]
        party = self.parties.get(self.party_of.get(user_id, 0))
        if party is None:
            for party_id in self.invites_for(user_id, now):
                messages.append(self.invite_message(party_id, user_id, now))
        ticket = self.ticket_of.get(user_id)
        messages.append(self.queue_message(ticket, now))
        check = self.checks.get(self.check_of.get(user_id, 0))
        if check is not None:
            messages.append(self.found_message(check, now))
            messages.append(lp.ready_update_message(check=check.id, accepted=sorted(check.accepted)))
        messages.append(lp.room_message(self.room_view(self.rooms.get(self.room_of.get(user_id, "")))))
        if user_id in self.ready_of:
            messages.append(self.ready_of[user_id])
        return messages

    def server_alive(self, *, server: str, now: float) -> None:
        self.server_seen[server] = now

    def expire_servers(self, now: float) -> Outbox:
        """A server process that stopped sending heartbeats died with its sockets: they leave."""
        out = Outbox()
        dead = {s for s, seen in self.server_seen.items() if now - seen > self.config.server_timeout}
        for channel, (user_id, server) in list(self.sockets.items()):
            if server in dead:
                merged = self.disconnect(user_id=user_id, channel=channel, now=now)
                out.sends += merged.sends
                out.online += merged.online
        for server in dead:
            del self.server_seen[server]
        return out

    def disconnect(self, *, user_id: int, channel: str, now: float) -> Outbox:
        out = Outbox()
        self.sockets.pop(channel, None)
        member = self.members.get(user_id)
        if member is None:
            return out
        member.channels.discard(channel)
        if member.channels:
            return out
        # Last tab closed: the player leaves everything that waits on them.
        self.leave_all(user_id, now, out)
        del self.members[user_id]
        if self.joined.pop(user_id, None) is None:
            self.left.add(user_id)
        out.online.append((user_id, False))
        return out

    def leave_all(self, user_id: int, now: float, out: Outbox) -> None:
        if user_id in self.check_of:
            self.answer_check(
                self.checks[self.check_of[user_id]],
                user_id,
                accept=False,
                now=now,
                out=out,
                reason=lp.CANCEL_LEFT,
            )
        if user_id in self.ticket_of:
            self.drop_ticket(self.ticket_of[user_id], now, out)
        if user_id in self.party_of:
            self.party_remove(user_id, now, out)
        for party in [p for p in self.parties.values() if user_id in p.invites]:
            del party.invites[user_id]
            if len(party.members) <= 1 and not party.invites:
                self.disband(party, out)
            else:
                self.tell_party(party, out)
        if user_id in self.room_of:
            self.room_remove(user_id, out)

    def flush_presence(self) -> Outbox:
        out = Outbox()
        if self.joined or self.left:
            joined = [lp.player_ref(uid, name) for uid, name in self.joined.items()]
            out.everyone(lp.presence_message(online=len(self.members), joined=joined, left=sorted(self.left)))
            self.joined, self.left = {}, set()
        return out

    # --- parties ------------------------------------------------------------------------------

    def party_message(self, party_id: int) -> dict[str, Any]:
        party = self.parties.get(party_id)
        if party is None:
            return lp.party_message(party_id=0, leader=0, members=[], invited=[])
        return lp.party_message(
            party_id=party.id,
            leader=party.leader,
            members=[self.ref(m) for m in party.members],
            invited=sorted(party.invites),
        )

    def invite_message(self, party_id: int, user_id: int, now: float) -> dict[str, Any]:
        party = self.parties[party_id]
        expires_in = max(0, round(party.invites.get(user_id, now) - now))
        return lp.party_invited_message(
            party_id=party_id, sender=self.ref(party.leader), expires_in=expires_in
        )

    def invites_for(self, user_id: int, now: float) -> Iterator[int]:
        for party in self.parties.values():
            if party.invites.get(user_id, float("-inf")) > now:
                yield party.id

    def tell_party(self, party: Party, out: Outbox) -> None:
        message = self.party_message(party.id)
        for user_id in party.members:
            out.user(user_id, message)

    def party_invite(self, *, user_id: int, target: int, now: float) -> Outbox:
        out = Outbox()
        if target == user_id:
            raise _fail(ErrorCode.CANNOT_TARGET_SELF, "you cannot invite yourself")
        if target not in self.members:
            raise _fail(ErrorCode.PLAYER_OFFLINE, f"player {target!r} is not online")
        party = self.parties.get(self.party_of.get(user_id, 0))
        if party is not None and party.leader != user_id:
            raise _fail(ErrorCode.NOT_PARTY_LEADER, "only the party leader can invite")
        if party is not None and target in party.members:
            raise _fail(ErrorCode.ALREADY_IN_PARTY, f"player {target!r} is already in your party")
        if target in self.party_of:
            raise _fail(ErrorCode.ALREADY_IN_PARTY, f"player {target!r} is in another party")
        if party is not None and len(party.members) >= self.config.party_max:
            raise _fail(ErrorCode.PARTY_FULL, f"a party has at most {self.config.party_max} players")
        if party is None:
            self.require_idle([user_id], "start a party")
            party = Party(id=next(self.ids), leader=user_id, members=[user_id])
            self.parties[party.id] = party
            self.party_of[user_id] = party.id
        party.invites[target] = now + self.config.invite_ttl
        out.user(target, self.invite_message(party.id, target, now))
        self.tell_party(party, out)
        return out

    def _invited_party(self, user_id: int, party_id: int, now: float) -> Party:
        party = self.parties.get(party_id)
        if party is None or party.invites.get(user_id, float("-inf")) <= now:
            raise _fail(ErrorCode.NO_SUCH_PARTY, f"no invitation to party {party_id!r} (gone or expired)")
        return party

    def party_accept(self, *, user_id: int, party_id: int, now: float) -> Outbox:
        out = Outbox()
        party = self._invited_party(user_id, party_id, now)
        if user_id in self.party_of:
            raise _fail(ErrorCode.ALREADY_IN_PARTY, "leave your party before joining another")
        if len(party.members) >= self.config.party_max:
            raise _fail(ErrorCode.PARTY_FULL, f"a party has at most {self.config.party_max} players")
        self.require_idle([user_id], "join a party")
        if self.check_of.get(party.leader):
            raise _fail(ErrorCode.BUSY, "the party is in a ready check; try again in a moment")
        del party.invites[user_id]
        self.cancel_party_ticket(party, now, out)
        party.members.append(user_id)
        self.party_of[user_id] = party.id
        self.tell_party(party, out)
        return out

    def party_decline(self, *, user_id: int, party_id: int, now: float) -> Outbox:
        out = Outbox()
        party = self._invited_party(user_id, party_id, now)
        del party.invites[user_id]
        self.tell_party(party, out)
        if len(party.members) == 1 and not party.invites:
            self.disband(party, out)
        return out

    def party_leave(self, *, user_id: int, now: float) -> Outbox:
        out = Outbox()
        if user_id not in self.party_of:
            raise _fail(ErrorCode.NOT_IN_PARTY, "you are not in a party")
        if user_id in self.check_of:
            raise _fail(ErrorCode.BUSY, "answer the ready check first")
        self.party_remove(user_id, now, out)
        return out

    def party_kick(self, *, user_id: int, target: int, now: float) -> Outbox:
        out = Outbox()
        party = self.parties.get(self.party_of.get(user_id, 0))
        if party is None:
            raise _fail(ErrorCode.NOT_IN_PARTY, "you are not in a party")
        if party.leader != user_id:
            raise _fail(ErrorCode.NOT_PARTY_LEADER, "only the party leader can kick")
        if target == user_id:
            raise _fail(ErrorCode.CANNOT_TARGET_SELF, "you cannot kick yourself; leave instead")
        if target not in party.members:
            raise _fail(ErrorCode.NOT_IN_PARTY, f"player {target!r} is not in your party")
        if user_id in self.check_of:
            raise _fail(ErrorCode.BUSY, "answer the ready check first")
        self.party_remove(target, now, out)
        return out

    def party_remove(self, user_id: int, now: float, out: Outbox) -> None:
        party = self.parties[self.party_of.pop(user_id)]
        self.cancel_party_ticket(party, now, out)
        party.members.remove(user_id)
        if party.leader == user_id and party.members:
            party.leader = party.members[0]
        out.user(user_id, self.party_message(0))
        if len(party.members) <= 1 and not party.invites:
            self.disband(party, out)
        else:
            self.tell_party(party, out)

    def disband(self, party: Party, out: Outbox) -> None:
        for member in party.members:
            self.party_of.pop(member, None)
            out.user(member, self.party_message(0))
        self.parties.pop(party.id, None)

    def cancel_party_ticket(self, party: Party, now: float, out: Outbox) -> None:
        """A party that changes while queued leaves the queue (it is no longer what queued)."""
        ticket = self.ticket_of.get(party.leader)
        if ticket is not None:
            self.drop_ticket(ticket, now, out)

    def expire_invites(self, now: float) -> Outbox:
        out = Outbox()
        for party in list(self.parties.values()):
            stale = [u for u, until in party.invites.items() if until <= now]
            for user_id in stale:
                del party.invites[user_id]
            if stale:
                if len(party.members) <= 1 and not party.invites:
                    self.disband(party, out)
                else:
                    self.tell_party(party, out)
        return out

    # --- queues -------------------------------------------------------------------------------

    def queue_message(self, ticket: Ticket | None, now: float) -> dict[str, Any]:
        if ticket is None:
            return lp.queue_message(mode="", waited=0, window=0, rating=0, size=0)
        return lp.queue_message(
            mode=ticket.mode,
            waited=int(now - ticket.since),
            window=window_of(ticket, now, self.config),
            rating=ticket.rating,
            size=sum(t.size for t in self.queues[ticket.mode]),
        )

    def queue_join(self, *, user_id: int, mode: str, ratings: dict[int, int], now: float) -> Outbox:
        """``ratings``: the displayed rating in ``mode`` of the player and their party."""
        out = Outbox()
        if mode not in self.queues:
            raise _fail(ErrorCode.BAD_SHAPE, f"unknown mode {mode!r}")
        party = self.parties.get(self.party_of.get(user_id, 0))
        if party is not None and party.leader != user_id:
            raise _fail(ErrorCode.NOT_PARTY_LEADER, "only the party leader can queue the party")
        unit = self.unit_of(user_id)
        self.require_idle(unit, "queue")
        if (len(unit) > TEAM_SIZE[mode] and mode != lp.FFA) or len(unit) > MATCH_SIZE[mode]:
            raise _fail(
                ErrorCode.PARTY_TOO_BIG,
                f"a party of {len(unit)} cannot queue for {mode!r} (teams of {TEAM_SIZE[mode]})",
            )
        ticket = Ticket(
            id=next(self.ids),
            mode=mode,
            members=unit,
            ratings={m: ratings[m] for m in unit},
            since=now,
            party_id=party.id if party else 0,
        )
        self.queues[mode].append(ticket)
        for member in unit:
            self.ticket_of[member] = ticket
        self.push_status(ticket, now, out)
        return out

    def queue_leave(self, *, user_id: int, now: float) -> Outbox:
        out = Outbox()
        ticket = self.ticket_of.get(user_id)
        if ticket is None:
            if user_id in self.check_of:
                raise _fail(ErrorCode.BUSY, "a match was found: answer the ready check (decline to leave)")
            raise _fail(ErrorCode.NOT_QUEUED, "you are not in a queue")
        self.drop_ticket(ticket, now, out)
        return out

    def drop_ticket(self, ticket: Ticket, now: float, out: Outbox) -> None:
        if ticket in self.queues[ticket.mode]:
            self.queues[ticket.mode].remove(ticket)
        for member in ticket.members:
            if self.ticket_of.get(member) is ticket:
                del self.ticket_of[member]
            out.user(member, self.queue_message(None, now))

    def push_status(self, ticket: Ticket, now: float, out: Outbox) -> None:
        ticket.last_status = now
        message = self.queue_message(ticket, now)
        for member in ticket.members:
            out.user(member, message)

    def pass_queues(self, now: float) -> Outbox:
        """Form every match the queues allow now; push queue status that is due."""
        out = Outbox()
        for mode, queue in self.queues.items():
            while (group := find_group(queue, mode, now, self.config.pairing)) is not None:
                for ticket in group:
                    queue.remove(ticket)
                    for member in ticket.members:
                        del self.ticket_of[member]
                check = Check(
                    id=next(self.ids),
                    mode=mode,
                    tickets=group,
                    teams=split_teams(group, mode),
                    deadline=now + self.config.ready_timeout,
                )
                self.checks[check.id] = check
                message = self.found_message(check, now)
                for member in check.players:
                    self.check_of[member] = check.id
                    out.user(member, self.queue_message(None, now))
                    out.user(member, message)
            for ticket in queue:
                if now - ticket.last_status >= STATUS_INTERVAL:
                    self.push_status(ticket, now, out)
        return out

    # --- ready checks -------------------------------------------------------------------------

    def found_message(self, check: Check, now: float) -> dict[str, Any]:
        players = [
            self.ref(member) | {"team": team if check.mode == lp.TEAM else -1}
            for team, members in enumerate(check.teams)
            for member in members
        ]
        return lp.match_found_message(
            check=check.id, mode=check.mode, players=players, timeout=max(0, round(check.deadline - now))
        )

    def ready(self, *, user_id: int, check_id: int, accept: bool, now: float) -> Outbox:
        out = Outbox()
        check = self.checks.get(check_id)
        if check is None:
            raise _fail(ErrorCode.NO_SUCH_CHECK, f"no ready check {check_id!r} (over or never was)")
        if user_id not in check.players:
            raise _fail(ErrorCode.NOT_YOUR_CHECK, f"ready check {check_id!r} is not yours")
        if accept and user_id in check.accepted:
            return out  # a second accept (another tab) changes nothing; a decline still counts
        self.answer_check(check, user_id, accept=accept, now=now, out=out, reason=lp.CANCEL_DECLINED)
        return out

    def answer_check(
        self, check: Check, user_id: int, *, accept: bool, now: float, out: Outbox, reason: str
    ) -> None:
        if accept:
            check.accepted.add(user_id)
            update = lp.ready_update_message(check=check.id, accepted=sorted(check.accepted))
            for member in check.players:
                out.user(member, update)
            if check.accepted == set(check.players):
                out.matches.append(
                    PendingMatch(
                        source="check",
                        key=check.id,
                        mode=check.mode,
                        teams=check.teams,
                        names={m: self.ref(m)["n"] for m in check.players},
                    )
                )
            return
        self.cancel_check(check, {user_id}, reason, now, out)

    def cancel_check(self, check: Check, refused: set[int], reason: str, now: float, out: Outbox) -> None:
        """Tickets with a refusing player leave; the others go back to the front of the queue."""
        self.close_check(check)
        for ticket in check.tickets:
            requeue = not refused.intersection(ticket.members) and all(
                m in self.members for m in ticket.members
            )
            message = lp.match_cancelled_message(check=check.id, reason=reason, requeued=requeue)
            for member in ticket.members:
                out.user(member, message)
            if requeue:
                ticket.last_status = float("-inf")
                self.queues[ticket.mode].insert(0, ticket)  # ``since`` is kept: the front
                for member in ticket.members:
                    self.ticket_of[member] = ticket
                self.push_status(ticket, now, out)

    def close_check(self, check: Check) -> None:
        self.checks.pop(check.id, None)
        for member in check.players:
            if self.check_of.get(member) == check.id:
                del self.check_of[member]

    def expire_checks(self, now: float) -> Outbox:
        out = Outbox()
        for check in [c for c in self.checks.values() if c.deadline <= now and c.accepted != set(c.players)]:
            self.cancel_check(check, set(check.players) - check.accepted, lp.CANCEL_TIMEOUT, now, out)
        return out

    # --- matches ------------------------------------------------------------------------------

    def match_created(
        self, pending: PendingMatch, match_id: str, *, until: float, ready: dict[int, dict[str, Any]]
    ) -> Outbox:
        """``until``: when to free the players even if the match's end is never reported;
        ``ready``: each player's ``match_ready``, sent now and again to any tab opened later."""
        out = Outbox()
        self.match_expiry[match_id] = until
        for user_id, message in ready.items():
            self.ready_of[user_id] = message
            out.user(user_id, message)
        if pending.source == "check":
            check = self.checks.get(int(pending.key))
            if check is not None:
                self.close_check(check)
        for member in pending.names:
            self.in_match[member] = match_id
        return out

    def match_failed(self, pending: PendingMatch, now: float) -> Outbox:
        """The database refused the match: everybody goes back to where they were."""
        out = Outbox()
        if pending.source == "check" and (check := self.checks.get(int(pending.key))) is not None:
            self.cancel_check(check, set(), lp.CANCEL_TIMEOUT, now, out)
        if pending.source == "room":
            error = protocol.error_message(
                ErrorCode.UNAVAILABLE, "the match could not be created; make the room again", re=lp.ROOM_START
            )
            for member in pending.names:
                out.user(member, error)
        return out

    def match_ended(self, *, match_id: str) -> Outbox:
        self.match_expiry.pop(match_id, None)
        for member in [m for m, mid in self.in_match.items() if mid == match_id]:
            del self.in_match[member]
            self.ready_of.pop(member, None)
        return Outbox()

    def expire_matches(self, now: float) -> Outbox:
        for match_id in [mid for mid, until in self.match_expiry.items() if until <= now]:
            self.match_ended(match_id=match_id)
        return Outbox()

    # --- rooms --------------------------------------------------------------------------------

    def room_view(self, room: Room | None, *, members: bool = True) -> dict[str, Any] | None:
        if room is None:
            return None
        view: dict[str, Any] = {
            "code": room.code,
            "mode": room.mode,
            "max": room.max,
            "count": len(room.members),
            "host": self.ref(room.host),
            "public": room.public,
            "locked": bool(room.password),
        }
        if members:
            view["members"] = [self.ref(m) for m in room.members]
        return view

    def public_rooms(self) -> list[dict[str, Any]]:
        rooms = [r for r in self.rooms.values() if r.public and len(r.members) < r.max]
        return [v for r in rooms[: self.config.list_max] if (v := self.room_view(r, members=False))]

    def list_event(self, room: Room, event: str, out: Outbox) -> None:
        if room.public:
            view = self.room_view(room, members=False)
            assert view is not None
            out.everyone(lp.room_listed_message(event=event, room=view))

    def tell_room(self, room: Room, out: Outbox) -> None:
        message = lp.room_message(self.room_view(room))
        for member in room.members:
            out.user(member, message)

    def room_create(
        self, *, user_id: int, mode: str, max_players: int, public: bool, password: str, now: float
    ) -> Outbox:
        out = Outbox()
        low, high = ROOM_LIMITS[mode]
        if not low <= max_players <= high:
            raise _fail(
                ErrorCode.BAD_SHAPE, f"a {mode!r} room takes {low}..{high} players, got {max_players!r}"
            )
        self.require_idle([user_id], "create a room")
        code = "".join(secrets.choice(lp.ROOM_CODE_CHARS) for _ in range(lp.ROOM_CODE_LEN))
        while code in self.rooms:
            code = "".join(secrets.choice(lp.ROOM_CODE_CHARS) for _ in range(lp.ROOM_CODE_LEN))
        room = Room(
            code=code,
            host=user_id,
            mode=mode,
            max=max_players,
            public=public,
            password=password,
            members=[user_id],
        )
        self.rooms[code] = room
        self.room_of[user_id] = code
        self.tell_room(room, out)
        self.list_event(room, lp.ROOM_CREATED, out)
        return out

    def room_join(self, *, user_id: int, code: str, password: str, now: float) -> Outbox:
        out = Outbox()
        room = self.rooms.get(code.strip().upper())
        if room is None:
            raise _fail(ErrorCode.NO_SUCH_ROOM, f"no room {code!r}")
        if user_id in room.members:
            raise _fail(ErrorCode.IN_ROOM, "you are already in this room")
        if room.password and not secrets.compare_digest(room.password.encode(), password.encode()):
            raise _fail(ErrorCode.WRONG_PASSWORD, f"wrong password for room {room.code!r}")
        if len(room.members) >= room.max:
            raise _fail(ErrorCode.ROOM_FULL, f"room {room.code!r} is full ({room.max} players)")
        self.require_idle([user_id], "join a room")
        room.members.append(user_id)
        self.room_of[user_id] = room.code
        self.tell_room(room, out)
        self.list_event(room, lp.ROOM_FILLED if len(room.members) >= room.max else lp.ROOM_UPDATED, out)
        return out

    def room_leave(self, *, user_id: int, now: float) -> Outbox:
        out = Outbox()
        if user_id not in self.room_of:
            raise _fail(ErrorCode.NOT_IN_ROOM, "you are not in a room")
        self.room_remove(user_id, out)
        return out

    def room_remove(self, user_id: int, out: Outbox) -> None:
        room = self.rooms[self.room_of.pop(user_id)]
        was_full = len(room.members) >= room.max
        room.members.remove(user_id)
        out.user(user_id, lp.room_message(None))
        if not room.members:
            del self.rooms[room.code]
            self.list_event(room, lp.ROOM_CLOSED, out)
            return
        if room.host == user_id:
            room.host = room.members[0]
        self.tell_room(room, out)
        # A full room is not in the open list: coming back into it is a "created" for clients.
        self.list_event(room, lp.ROOM_CREATED if was_full else lp.ROOM_UPDATED, out)

    def room_start(self, *, user_id: int, ratings: dict[int, int], now: float) -> Outbox:
        """``ratings``: the room members' ratings in the room's mode, to balance teams."""
        out = Outbox()
        room = self.rooms.get(self.room_of.get(user_id, ""))
        if room is None:
            raise _fail(ErrorCode.NOT_IN_ROOM, "you are not in a room")
        if room.host != user_id:
            raise _fail(ErrorCode.NOT_ROOM_HOST, "only the host can start the match")
        low = ROOM_LIMITS[room.mode][0]
        count = len(room.members)
        if count < low or (room.mode == lp.TEAM and count % 2):
            need = "an even number of players" if room.mode == lp.TEAM else f"at least {low} players"
            raise _fail(
                ErrorCode.NOT_ENOUGH_PLAYERS, f"a {room.mode!r} match needs {need}, the room has {count}"
            )
        teams = [[m] for m in room.members] if room.mode == lp.FFA else balance(room.members, ratings)
        del self.rooms[room.code]
        for member in room.members:
            del self.room_of[member]
            out.user(member, lp.room_message(None))
        self.list_event(room, lp.ROOM_STARTED, out)
        out.matches.append(
            PendingMatch(
                source="room",
                key=room.code,
                mode=room.mode,
                teams=teams,
                names={m: self.ref(m)["n"] for m in room.members},
            )
        )
        return out


def window_of(ticket: Ticket, now: float, config: LobbyConfig) -> int:
    return window(ticket, now, config.pairing)


def status_text(status: str) -> str:
    return {
        "match": "in a match",
        "checking": "in a ready check",
        "queued": "already queued",
        "room": "in a room",
    }[status]
