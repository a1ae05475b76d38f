"""Presence: who is online, tabs, dead server processes, presence batches."""

from __future__ import annotations

import itertools
from typing import Any

from gameserver.protocol import lobby as lp
from lobby.matchmaker.base import LobbyBase
from lobby.matchmaker.model import (
    Member,
    Outbox,
)


class PresenceMixin(LobbyBase):
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
        self.away.pop(user_id, None)  # back within the grace period: nothing was lost
        member.channels.add(channel)
        return out

    def welcome_parts(self, user_id: int) -> dict[str, Any]:
        """Presence, rooms, modes and games for a ``welcome``; the worker adds ratings and chat
        history."""
        players = [
            lp.player_ref(m.user_id, m.name)
            for m in itertools.islice(self.members.values(), self.config.list_max)
        ]
        modes = [
            lp.mode_info(
                mode=m.name,
                game=m.game,
                players=m.players,
                team_size=m.team_size,
                least=m.min_players,
                wait=m.wait,
                rated=m.rated,
            )
            for m in self.config.modes.values()
        ]
        games = [
            lp.game_info(game=g.name, least=g.min_players, most=g.max_players)
            for g in self.config.games.values()
        ]
        return {
            "online": len(self.members),
            "players": players,
            "rooms": self.public_rooms(),
            "modes": modes,
            "games": games,
        }

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
                out.extend(self.disconnect(user_id=user_id, channel=channel, now=now))
        for server in dead:
            del self.server_seen[server]
        return out

    def disconnect(self, *, user_id: int, channel: str, now: float, leaving: bool = False) -> Outbox:
        """``leaving``: the client closed on purpose (signed out): no grace period."""
        out = Outbox()
        self.sockets.pop(channel, None)
        member = self.members.get(user_id)
        if member is None:
            return out
        member.channels.discard(channel)
        if member.channels:
            return out
        if self.config.reconnect_grace > 0 and not leaving:
            # Last tab closed (a reload, a dropped network, a dead server process): presence,
            # party, queue, ready check and room are kept for the grace period (expire_away).
            self.away[user_id] = now + self.config.reconnect_grace
            return out
        self.leave(user_id, now, out)
        return out

    def expire_away(self, now: float) -> Outbox:
        """Players whose grace period ran out with no socket back leave everything."""
        out = Outbox()
        for user_id in [u for u, until in self.away.items() if until <= now]:
            del self.away[user_id]
            member = self.members.get(user_id)
            if member is not None and not member.channels:
                self.leave(user_id, now, out)
        return out

    def leave(self, user_id: int, now: float, out: Outbox) -> None:
        """The player is gone: they leave everything that waits on them, and go offline."""
        self.leave_all(user_id, now, out)
        del self.members[user_id]
        if self.joined.pop(user_id, None) is None:
            self.left.add(user_id)
        out.online.append((user_id, False))

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
            self.settle(party, out)
        if user_id in self.room_of:
            self.room_remove(user_id, out)

    def flush_presence(self) -> Outbox:
        out = Outbox()
        if self.joined or self.left:
            joined = [lp.player_ref(uid, name) for uid, name in self.joined.items()]
            out.everyone(lp.presence_message(online=len(self.members), joined=joined, left=sorted(self.left)))
            self.joined, self.left = {}, set()
        return out
