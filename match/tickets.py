"""Signed, expiring match tickets: the way into a match, for one match and one seat; and the
resume credential the first connection of a seat is given, the only way back onto it."""

import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

SALT = "match.ticket"
RESUME_SALT = "match.resume"


class TicketInvalid(Exception):
    """The ticket is missing, malformed or its signature does not verify."""


class TicketExpired(TicketInvalid):
    """The ticket was genuine but is older than MATCH_TICKET_TTL."""


@dataclass(frozen=True)
class TicketClaims:
    match_id: str
    seat: int
    user_id: int | None = None  # set for matchmade seats: only that account may use it


def ticket_issue(*, match_id: str, seat: int, user_id: int | None = None) -> str:
    payload: dict[str, object] = {"m": str(match_id), "s": seat}
    if user_id is not None:
        payload["u"] = user_id
    return signing.dumps(payload, salt=SALT)


def ticket_verify(*, ticket: str, max_age: int | None = None) -> TicketClaims:
    """Return the claims of a genuine, unexpired ticket, or raise TicketInvalid."""
    if not ticket:
        raise TicketInvalid("no ticket")
    ttl = settings.MATCH_TICKET_TTL if max_age is None else max_age
    try:
        payload = signing.loads(ticket, salt=SALT, max_age=ttl)
    except signing.SignatureExpired:
        raise TicketExpired("ticket expired") from None
    except signing.BadSignature:
        raise TicketInvalid("ticket signature does not verify") from None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("m"), str)
        or type(payload.get("s")) is not int
        or ("u" in payload and type(payload["u"]) is not int)
    ):
        raise TicketInvalid(f"ticket payload malformed: {payload!r}")
    return TicketClaims(match_id=payload["m"], seat=payload["s"], user_id=payload.get("u"))


@dataclass(frozen=True)
class ResumeClaims:
    match_id: str
    seat: int
    key_hash: str  # compared with MatchSeat.resume_hash


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def resume_issue(*, match_id: str, seat: int) -> tuple[str, str]:
    """A new resume credential for a seat and the hash to store: signed so a forged one costs
    no database read, keyed so only the stored hash makes it valid (no expiry: the match's
    end, or a newer credential, is what ends it)."""
    key = secrets.token_urlsafe(18)
    return signing.dumps({"m": str(match_id), "s": seat, "k": key}, salt=RESUME_SALT), key_hash(key)


def resume_verify(*, credential: str) -> ResumeClaims:
    """The claims of a genuinely signed resume credential, or raise TicketInvalid."""
    try:
        payload = signing.loads(credential, salt=RESUME_SALT)
    except signing.BadSignature:
        raise TicketInvalid("resume credential signature does not verify") from None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("m"), str)
        or type(payload.get("s")) is not int
        or not isinstance(payload.get("k"), str)
    ):
        raise TicketInvalid(f"resume credential malformed: {payload!r}")
    return ResumeClaims(match_id=payload["m"], seat=payload["s"], key_hash=key_hash(payload["k"]))
