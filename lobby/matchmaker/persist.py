"""The lobby state as bytes, so a matchmaker that takes over (a standby, a restart) goes on
with the parties, queues, ready checks, rooms and players its predecessor had.

Pure: msgpack of plain values, never pickle (whoever can write Redis must not get to run
code). Times are monotonic seconds, which mean nothing in another process on another machine:
they are stored relative to the moment of the dump and re-based on the clock of the loader.
Tickets are stored once and referred to by id, so a queue, a ready check and ``ticket_of``
share the same object again after loading. A lobby saved under other GAME_MODES loads without
the queues, ready checks and rooms of modes that are gone (their players are simply idle).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import msgpack

from lobby.matchmaker.model import Check, LobbyConfig, Member, Party, Room
from lobby.matchmaker.pairing import Ticket
from lobby.matchmaker.state import Lobby

FORMAT = 2  # 2: rooms carry their game; a format 1 state (rooms play their mode's game) loads
NEVER = None  # how -inf (never sent, never expires) is stored


def _rel(t: float, now: float) -> float | None:
    return NEVER if math.isinf(t) else t - now


def _abs(t: float | None, now: float) -> float:
    return float("-inf") if t is NEVER else now + t


def lobby_dump(lobby: Lobby, now: float) -> bytes:
    tickets: dict[int, Ticket] = {}
    for ticket in itertools.chain(
        (t for queue in lobby.queues.values() for t in queue),
        (t for check in lobby.checks.values() for t in check.tickets),
        lobby.ticket_of.values(),
    ):
        tickets[ticket.id] = ticket
    ids = next(lobby.ids)
    lobby.ids = itertools.count(ids)  # reading the counter must not spend an id
    data = {
        "v": FORMAT,
        "ids": ids,
        "members": [[m.user_id, m.name, sorted(m.channels)] for m in lobby.members.values()],
        "tickets": [
            [
                t.id,
                t.mode,
                t.members,
                list(t.ratings.items()),
                _rel(t.since, now),
                t.party_id,
                _rel(t.last_status, now),
            ]
            for t in tickets.values()
        ],
        "parties": [
            [p.id, p.leader, p.members, [[u, _rel(at, now)] for u, at in p.invites.items()]]
            for p in lobby.parties.values()
        ],
        "party_of": list(lobby.party_of.items()),
        "queues": {mode: [t.id for t in queue] for mode, queue in lobby.queues.items()},
        "ticket_of": [[user, t.id] for user, t in lobby.ticket_of.items()],
        "checks": [
            [c.id, c.mode, [t.id for t in c.tickets], c.teams, _rel(c.deadline, now), sorted(c.accepted)]
            for c in lobby.checks.values()
        ],
        "check_of": list(lobby.check_of.items()),
        "rooms": [
            [r.code, r.host, r.mode, r.max, r.public, r.password, r.members, r.game]
            for r in lobby.rooms.values()
        ],
        "room_of": list(lobby.room_of.items()),
        "in_match": list(lobby.in_match.items()),
        "ready_of": list(lobby.ready_of.items()),
        "match_expiry": [[m, _rel(at, now)] for m, at in lobby.match_expiry.items()],
        "sockets": [[channel, user, server] for channel, (user, server) in lobby.sockets.items()],
        "server_seen": [[server, _rel(at, now)] for server, at in lobby.server_seen.items()],
        "away": [[user, _rel(at, now)] for user, at in lobby.away.items()],
        "joined": list(lobby.joined.items()),
        "left": sorted(lobby.left),
    }
    return msgpack.packb(data, use_bin_type=True)


def lobby_load(raw: bytes, config: LobbyConfig, now: float) -> Lobby:
    """The inverse of ``lobby_dump``; raises ``ValueError`` for bytes it did not make."""
    try:
        data: dict[str, Any] = msgpack.unpackb(raw, raw=False, strict_map_key=False)
        if not isinstance(data, dict) or data.get("v") not in (1, FORMAT):
            raise ValueError(
                f"unknown lobby state format {data.get('v') if isinstance(data, dict) else data!r}"
            )
        lobby = Lobby(config)
        lobby.ids = itertools.count(data["ids"])
        lobby.members = {u: Member(user_id=u, name=n, channels=set(ch)) for u, n, ch in data["members"]}
        tickets = {
            tid: Ticket(
                id=tid,
                mode=mode,
                members=members,
                ratings=dict(ratings),
                since=_abs(since, now),
                party_id=party_id,
                last_status=_abs(last, now),
            )
            for tid, mode, members, ratings, since, party_id, last in data["tickets"]
        }
        lobby.parties = {
            pid: Party(
                id=pid, leader=leader, members=members, invites={u: _abs(at, now) for u, at in invites}
            )
            for pid, leader, members, invites in data["parties"]
        }
        lobby.party_of = dict(data["party_of"])
        lobby.queues = {mode: [tickets[t] for t in queue] for mode, queue in data["queues"].items()}
        lobby.ticket_of = {user: tickets[t] for user, t in data["ticket_of"]}
        lobby.checks = {
            cid: Check(
                id=cid,
                mode=mode,
                tickets=[tickets[t] for t in ts],
                teams=teams,
                deadline=_abs(deadline, now),
                accepted=set(accepted),
            )
            for cid, mode, ts, teams, deadline, accepted in data["checks"]
        }
        lobby.check_of = dict(data["check_of"])
        lobby.rooms = {}
        for code, host, mode, mx, public, password, members, *game in data["rooms"]:
            spec = config.modes.get(mode)
            lobby.rooms[code] = Room(
                code=code,
                host=host,
                mode=mode,
                max=mx,
                public=public,
                password=password,
                members=members,
                game=game[0] if game else spec.game if spec else "",
            )
        lobby.room_of = dict(data["room_of"])
        lobby.in_match = dict(data["in_match"])
        lobby.ready_of = dict(data["ready_of"])
        lobby.match_expiry = {m: _abs(at, now) for m, at in data["match_expiry"]}
        lobby.sockets = {channel: (user, server) for channel, user, server in data["sockets"]}
        lobby.server_seen = {server: _abs(at, now) for server, at in data["server_seen"]}
        lobby.away = {user: _abs(at, now) for user, at in data["away"]}
        lobby.joined = dict(data["joined"])
        lobby.left = set(data["left"])
        _forget_unknown_modes(lobby)
        return lobby
    except (KeyError, TypeError, ValueError, msgpack.UnpackException) as exc:
        raise ValueError(f"not a lobby state: {exc!r}") from None


def _forget_unknown_modes(lobby: Lobby) -> None:
    """Queues, ready checks and rooms whose mode (or room game) this matchmaker does not have
    are dropped; their players are idle. Every configured mode gets a queue."""
    modes, games = lobby.config.modes, lobby.config.games
    for mode in [m for m in lobby.queues if m not in modes]:
        for ticket in lobby.queues.pop(mode):
            for member in ticket.members:
                if lobby.ticket_of.get(member) is ticket:
                    del lobby.ticket_of[member]
    for mode in modes:
        lobby.queues.setdefault(mode, [])
    for user, ticket in list(lobby.ticket_of.items()):
        if ticket.mode not in modes:
            del lobby.ticket_of[user]
    for check in [c for c in lobby.checks.values() if c.mode not in modes]:
        del lobby.checks[check.id]
        for member in check.players:
            if lobby.check_of.get(member) == check.id:
                del lobby.check_of[member]
    for room in [r for r in lobby.rooms.values() if r.mode not in modes or r.game not in games]:
        del lobby.rooms[room.code]
        for member in room.members:
            if lobby.room_of.get(member) == room.code:
                del lobby.room_of[member]
