"""Parties: invitations, one leader, members who queue together."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gameserver.protocol import ErrorCode
from gameserver.protocol import lobby as lp
from lobby.matchmaker.base import LobbyBase
from lobby.matchmaker.model import (
    Outbox,
    Party,
    lobby_error,
)


class PartiesMixin(LobbyBase):
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
            raise lobby_error(ErrorCode.CANNOT_TARGET_SELF, "you cannot invite yourself")
        if target not in self.members:
            raise lobby_error(ErrorCode.PLAYER_OFFLINE, f"player {target!r} is not online")
        party = self.parties.get(self.party_of.get(user_id, 0))
        if party is not None and party.leader != user_id:
            raise lobby_error(ErrorCode.NOT_PARTY_LEADER, "only the party leader can invite")
        if party is not None and target in party.members:
            raise lobby_error(ErrorCode.ALREADY_IN_PARTY, f"player {target!r} is already in your party")
        if target in self.party_of:
            raise lobby_error(ErrorCode.ALREADY_IN_PARTY, f"player {target!r} is in another party")
        if party is not None and len(party.members) >= self.config.party_max:
            raise lobby_error(ErrorCode.PARTY_FULL, f"a party has at most {self.config.party_max} players")
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
            raise lobby_error(
                ErrorCode.NO_SUCH_PARTY, f"no invitation to party {party_id!r} (gone or expired)"
            )
        return party

    def party_accept(self, *, user_id: int, party_id: int, now: float) -> Outbox:
        out = Outbox()
        party = self._invited_party(user_id, party_id, now)
        if user_id in self.party_of:
            raise lobby_error(ErrorCode.ALREADY_IN_PARTY, "leave your party before joining another")
        if len(party.members) >= self.config.party_max:
            raise lobby_error(ErrorCode.PARTY_FULL, f"a party has at most {self.config.party_max} players")
        self.require_idle([user_id], "join a party")
        if self.check_of.get(party.leader):
            raise lobby_error(ErrorCode.BUSY, "the party is in a ready check; try again in a moment")
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
        self.settle(party, out)
        return out

    def party_leave(self, *, user_id: int, now: float) -> Outbox:
        out = Outbox()
        if user_id not in self.party_of:
            raise lobby_error(ErrorCode.NOT_IN_PARTY, "you are not in a party")
        if user_id in self.check_of:
            raise lobby_error(ErrorCode.BUSY, "answer the ready check first")
        self.party_remove(user_id, now, out)
        return out

    def party_kick(self, *, user_id: int, target: int, now: float) -> Outbox:
        out = Outbox()
        party = self.parties.get(self.party_of.get(user_id, 0))
        if party is None:
            raise lobby_error(ErrorCode.NOT_IN_PARTY, "you are not in a party")
        if party.leader != user_id:
            raise lobby_error(ErrorCode.NOT_PARTY_LEADER, "only the party leader can kick")
        if target == user_id:
            raise lobby_error(ErrorCode.CANNOT_TARGET_SELF, "you cannot kick yourself; leave instead")
        if target not in party.members:
            raise lobby_error(ErrorCode.NOT_IN_PARTY, f"player {target!r} is not in your party")
        if user_id in self.check_of:
            raise lobby_error(ErrorCode.BUSY, "answer the ready check first")
        self.party_remove(target, now, out)
        return out

    def party_remove(self, user_id: int, now: float, out: Outbox) -> None:
        party = self.parties[self.party_of.pop(user_id)]
        self.cancel_party_ticket(party, now, out)
        party.members.remove(user_id)
        if party.leader == user_id and party.members:
            party.leader = party.members[0]
        out.user(user_id, self.party_message(0))
        self.settle(party, out)

    def settle(self, party: Party, out: Outbox) -> None:
        """After a member or an invitation went: a party of one with no invitation left
        disbands; any other tells its members what it is now."""
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
                self.settle(party, out)
        return out
