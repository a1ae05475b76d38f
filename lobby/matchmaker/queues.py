"""Queues, ready checks and the matches they make."""

from __future__ import annotations

from typing import Any

from gameserver import protocol
from gameserver.protocol import ErrorCode
from gameserver.protocol import lobby as lp
from lobby.matchmaker.base import LobbyBase
from lobby.matchmaker.model import (
    STATUS_INTERVAL,
    Check,
    Outbox,
    PendingMatch,
    lobby_error,
)
from lobby.matchmaker.pairing import (
    Ticket,
    find_group,
    players_needed,
    split_teams,
    window,
)


class QueuesMixin(LobbyBase):
    def queue_counts(self, mode: str, now: float) -> tuple[int, int]:
        """(players queued in ``mode``, players its next match needs now)."""
        queue = self.queues[mode]
        return sum(t.size for t in queue), players_needed(queue, self.config.modes[mode], now)

    def queue_message(
        self, ticket: Ticket | None, now: float, counts: tuple[int, int] | None = None
    ) -> dict[str, Any]:
        """``counts``: the ticket's ``queue_counts``, when the caller has them already."""
        if ticket is None:
            return lp.queue_message(mode="", waited=0, window=0, rating=0, size=0, need=0)
        size, need = counts if counts is not None else self.queue_counts(ticket.mode, now)
        return lp.queue_message(
            mode=ticket.mode,
            waited=int(now - ticket.since),
            window=window(ticket, now, self.config.pairing),
            rating=ticket.rating,
            size=size,
            need=need,
        )

    def queue_join(self, *, user_id: int, mode: str, ratings: dict[int, int], now: float) -> Outbox:
        """``ratings``: the displayed rating in ``mode`` of the player and their party."""
        out = Outbox()
        spec = self.config.modes.get(mode)
        if spec is None:
            raise lobby_error(ErrorCode.BAD_SHAPE, f"unknown mode {mode!r}")
        party = self.parties.get(self.party_of.get(user_id, 0))
        if party is not None and party.leader != user_id:
            raise lobby_error(ErrorCode.NOT_PARTY_LEADER, "only the party leader can queue the party")
        unit = self.unit_of(user_id)
        self.require_idle(unit, "queue")
        if len(unit) > spec.party:
            alone = "solo only" if spec.party == 1 else f"parties of at most {spec.party}"
            raise lobby_error(
                ErrorCode.PARTY_TOO_BIG, f"a party of {len(unit)} cannot queue for {mode!r} ({alone})"
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
                raise lobby_error(
                    ErrorCode.BUSY, "a match was found: answer the ready check (decline to leave)"
                )
            raise lobby_error(ErrorCode.NOT_QUEUED, "you are not in a queue")
        self.drop_ticket(ticket, now, out)
        return out

    def drop_ticket(self, ticket: Ticket, now: float, out: Outbox) -> None:
        if ticket in self.queues[ticket.mode]:
            self.queues[ticket.mode].remove(ticket)
        for member in ticket.members:
            if self.ticket_of.get(member) is ticket:
                del self.ticket_of[member]
            out.user(member, self.queue_message(None, now))

    def push_status(
        self, ticket: Ticket, now: float, out: Outbox, counts: tuple[int, int] | None = None
    ) -> None:
        ticket.last_status = now
        message = self.queue_message(ticket, now, counts)
        for member in ticket.members:
            out.user(member, message)

    def pass_queues(self, now: float) -> Outbox:
        """Form every match the queues allow now; push queue status that is due."""
        out = Outbox()
        for mode, queue in self.queues.items():
            spec = self.config.modes[mode]
            while (group := find_group(queue, spec, now, self.config.pairing)) is not None:
                for ticket in group:
                    queue.remove(ticket)
                    for member in ticket.members:
                        del self.ticket_of[member]
                check = Check(
                    id=next(self.ids),
                    mode=mode,
                    tickets=group,
                    teams=split_teams(group, spec),
                    deadline=now + self.config.ready_timeout,
                )
                self.checks[check.id] = check
                message = self.found_message(check, now)
                for member in check.players:
                    self.check_of[member] = check.id
                    out.user(member, self.queue_message(None, now))
                    out.user(member, message)
            counts = None  # one count per queue and pass, however many statuses are due
            for ticket in queue:
                if now - ticket.last_status >= STATUS_INTERVAL:
                    counts = counts or self.queue_counts(mode, now)
                    self.push_status(ticket, now, out, counts)
        return out

    # --- ready checks -------------------------------------------------------------------------

    def found_message(self, check: Check, now: float) -> dict[str, Any]:
        teamed = self.config.modes[check.mode].has_teams
        players = [
            self.ref(member) | {"team": team if teamed else -1}
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
            raise lobby_error(ErrorCode.NO_SUCH_CHECK, f"no ready check {check_id!r} (over or never was)")
        if user_id not in check.players:
            raise lobby_error(ErrorCode.NOT_YOUR_CHECK, f"ready check {check_id!r} is not yours")
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
                        game=self.config.modes[check.mode].game,
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
        """The match could not be made (the database refused it, or no tick worker could be
        asked to run it): everybody goes back to where they were."""
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
