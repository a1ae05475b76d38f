"""Who gets into a match: only a genuine, unexpired ticket for that match and a seat in it."""

import uuid

import pytest
from channels.db import database_sync_to_async
from django.core import signing

from match import services
from match.tickets import ticket_issue
from tests.match.conftest import communicator, create_match, join, recv, recv_until

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


async def test_a_newer_connection_for_a_seat_replaces_the_older_one_with_4409(tick_worker):
    match = await create_match()
    first = await join(match, 0)
    await recv_until(first, "snapshot")
    second = await join(match, 0)
    await recv_until(second, "snapshot")
    assert (await recv_until(first, "error"))["code"] == "replaced"
    assert (await recv(first))["code"] == 4409
    await second.disconnect()
