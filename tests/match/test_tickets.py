import pytest
from django.core import signing

from match.tickets import TicketClaims, TicketExpired, TicketInvalid, ticket_issue, ticket_verify


def test_a_ticket_round_trips_to_its_match_and_seat():
    ticket = ticket_issue(match_id="abc", seat=3)
    assert ticket_verify(ticket=ticket) == TicketClaims(match_id="abc", seat=3)


def test_an_expired_ticket_raises_ticket_expired():
    ticket = ticket_issue(match_id="abc", seat=0)
    with pytest.raises(TicketExpired):
        ticket_verify(ticket=ticket, max_age=-1)


@pytest.mark.parametrize(
    "ticket",
    [
        "",
        "nonsense",
        signing.dumps({"m": "abc", "s": 0}, salt="another.purpose"),
        signing.dumps({"m": "abc", "s": 0}, salt="match.ticket", key="not-our-secret-key-at-all-0123456789"),
        signing.dumps(["abc", 0], salt="match.ticket"),
        signing.dumps({"m": "abc", "s": "0"}, salt="match.ticket"),
        signing.dumps({"m": "abc", "s": True}, salt="match.ticket"),
    ],
    ids=["empty", "garbage", "other-salt", "other-key", "list-payload", "str-seat", "bool-seat"],
)
def test_tickets_we_did_not_issue_are_invalid(ticket):
    with pytest.raises(TicketInvalid):
        ticket_verify(ticket=ticket)


def test_changing_the_seat_inside_a_ticket_breaks_its_signature():
    genuine = ticket_issue(match_id="abc", seat=0)
    tampered = (
        signing.dumps({"m": "abc", "s": 1}, salt="match.ticket").split(":", 1)[0]
        + ":"
        + genuine.split(":", 1)[1]
    )
    with pytest.raises(TicketInvalid):
        ticket_verify(ticket=tampered)
