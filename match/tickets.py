"""Signed, expiring match tickets: the only way into a match, for one match and one seat."""

from dataclasses import dataclass

from django.conf import settings
from django.core import signing

SALT = "match.ticket"


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
