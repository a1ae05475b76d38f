"""Who gets into a match: only a genuine, unexpired ticket for that match and a seat in it."""

import asyncio
import uuid

import msgpack
import pytest
from channels.db import database_sync_to_async
from django.core import signing

from match import services
from match.tickets import resume_issue, resume_verify, ticket_issue
from tests.match.conftest import communicator, create_match, join, recv, recv_until, resume

pytestmark = pytest.mark.django_db(transaction=True)


async def refused(comm) -> tuple[dict, dict]:
    connected, _ = await comm.connect()
    assert connected, "the handshake is accepted so that the close code reaches the client"
    error = await recv(comm)
    close = await recv(comm)
    await comm.disconnect()
    return error, close


async def test_a_connection_without_a_ticket_is_closed_4401(tick_worker):
    match = await create_match()
    error, close = await refused(communicator(match.id, None))
    assert error == {"t": "error", "code": "ticket_invalid", "detail": "bad match ticket: no ticket"}
    assert close["code"] == 4401


async def test_a_forged_ticket_is_closed_4401(tick_worker):
    match = await create_match()
    genuine = ticket_issue(match_id=str(match.id), seat=0)
    _payload, rest = genuine.split(":", 1)
    other = signing.dumps({"m": str(match.id), "s": 1}, salt="match.ticket").split(":", 1)[0]
    for forged in (
        other + ":" + rest,
        genuine[:-2] + "xx",
        "garbage",
        signing.dumps({"m": str(match.id), "s": 0}, salt="other"),
    ):
        error, close = await refused(communicator(match.id, forged))
        assert (error["code"], close["code"]) == ("ticket_invalid", 4401), forged


async def test_an_expired_ticket_is_closed_4401(tick_worker, settings):
    match = await create_match()
    ticket = ticket_issue(match_id=str(match.id), seat=0)
    settings.MATCH_TICKET_TTL = -1
    error, close = await refused(communicator(match.id, ticket))
    assert (error["code"], close["code"]) == ("ticket_expired", 4401)


async def test_a_ticket_for_another_match_is_closed_4403(tick_worker):
    match, other = await create_match(), await create_match()
    error, close = await refused(communicator(match.id, ticket_issue(match_id=str(other.id), seat=0)))
    assert (error["code"], close["code"]) == ("wrong_match", 4403)


async def test_a_ticket_for_a_seat_the_match_does_not_have_is_closed_4403(tick_worker):
    match = await create_match(players=2)
    error, close = await refused(communicator(match.id, ticket_issue(match_id=str(match.id), seat=2)))
    assert (error["code"], close["code"]) == ("ticket_invalid", 4403)


async def test_a_ticket_for_an_unknown_match_is_closed_4404(tick_worker):
    ghost = str(uuid.uuid4())
    error, close = await refused(communicator(ghost, ticket_issue(match_id=ghost, seat=0)))
    assert (error["code"], close["code"]) == ("no_such_match", 4404)


async def test_a_finished_match_is_closed_4410(tick_worker):
    match = await create_match(start=False)
    await database_sync_to_async(services.match_finish)(
        match_id=str(match.id), result={"reason": "time"}, ticks=5
    )
    error, close = await refused(communicator(match.id, ticket_issue(match_id=str(match.id), seat=0)))
    assert (error["code"], close["code"]) == ("match_over", 4410)


async def test_a_foreign_origin_is_refused_at_the_handshake(tick_worker):
    match = await create_match()
    comm = communicator(
        match.id, ticket_issue(match_id=str(match.id), seat=0), headers=[(b"origin", b"http://evil.example")]
    )
    connected, _ = await comm.connect()
    assert not connected


async def test_a_valid_ticket_gets_the_full_snapshot_for_its_seat(tick_worker):
    match = await create_match(players=3)
    comm = await join(match, 2)
    snapshot = await recv_until(comm, "snapshot")
    assert snapshot["seat"] == 2
    assert snapshot["phase"] == "waiting"
    assert snapshot["tick"] == 0
    assert [p["s"] for p in snapshot["state"]["players"]] == [0, 1, 2]
    assert snapshot["acks"] == [0, 0, 0]
    await comm.disconnect()


async def test_the_first_connection_of_a_seat_is_given_its_resume_credential(tick_worker, settings):
    settings.MATCH_RECONNECT_GRACE = 45
    match = await create_match()
    comm = communicator(match.id, ticket_issue(match_id=str(match.id), seat=1))
    assert (await comm.connect())[0]
    seat = await recv(comm)
    assert (seat["t"], seat["seat"], seat["grace"]) == ("seat", 1, 45)
    assert resume_verify(credential=seat["resume"]).match_id == str(match.id)
    await comm.disconnect()


async def test_a_ticket_cannot_take_a_seat_someone_holds(tick_worker):
    """A practice link is no bearer link: once a seat is claimed, the ticket alone is refused."""
    match = await create_match()
    first = await join(match, 0)
    await recv_until(first, "snapshot")
    error, close = await refused(communicator(match.id, ticket_issue(match_id=str(match.id), seat=0)))
    assert (error["code"], close["code"]) == ("seat_taken", 4409)
    await first.send_to(bytes_data=msgpack.packb({"t": "ping", "id": 7}))
    assert (await recv_until(first, "pong"))["id"] == 7, "the holder is untouched"
    await first.disconnect()


async def test_the_resume_credential_replaces_the_older_connection_with_4409(tick_worker):
    match = await create_match()
    first = await join(match, 0)
    await recv_until(first, "snapshot")
    second = await resume(match, first.credential)
    snapshot = await recv_until(second, "snapshot")
    assert snapshot["seat"] == 0
    assert (await recv_until(first, "error"))["code"] == "replaced"
    assert (await recv(first))["code"] == 4409
    await second.disconnect()


async def test_the_resume_credential_outlives_the_ticket(tick_worker, settings):
    match = await create_match()
    first = await join(match, 1)
    await first.disconnect()
    settings.MATCH_TICKET_TTL = -1  # every ticket has expired; the credential has no expiry
    again = await resume(match, first.credential)
    assert (await recv_until(again, "snapshot"))["seat"] == 1
    await again.disconnect()


async def test_a_forged_or_foreign_resume_credential_is_refused(tick_worker):
    match, other = await create_match(), await create_match()
    first = await join(match, 0)
    genuine = first.credential
    await first.disconnect()
    stranger, _hash = resume_issue(match_id=str(match.id), seat=0)  # well signed, never stored
    elsewhere, _hash = resume_issue(match_id=str(other.id), seat=0)
    for credential, code, close_code in (
        (genuine[:-2] + "xx", "resume_invalid", 4401),
        (signing.dumps({"m": str(match.id), "s": 0, "k": "x"}, salt="match.ticket"), "resume_invalid", 4401),
        (stranger, "resume_invalid", 4401),
        (elsewhere, "wrong_match", 4403),
    ):
        error, close = await refused(communicator(match.id, None, query=f"resume={credential}"))
        assert (error["code"], close["code"]) == (code, close_code), credential


async def test_two_openers_of_one_ticket_get_the_seat_once(tick_worker):
    match = await create_match()
    ticket = ticket_issue(match_id=str(match.id), seat=0)
    comms = [communicator(match.id, ticket) for _ in range(4)]
    await asyncio.gather(*(c.connect() for c in comms))
    firsts = [await recv(c) for c in comms]
    assert sorted(m["t"] for m in firsts) == ["error", "error", "error", "seat"]
    for comm in comms:
        await comm.disconnect()
