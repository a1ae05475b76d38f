"""Queues, the ready check and match creation through real consumers, the real matchmaker and
the real tick worker."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from gameserver.asgi import application
from match.models import Match
from match.tickets import ticket_verify
from tests.lobby.conftest import ORIGIN, Player, online, recv, recv_until
from tests.lobby.test_parties import form_party

pytestmark = pytest.mark.usefixtures("workers")


async def queue(players: list[Player], mode: str) -> None:
    for player in players:
        await player.send({"t": "queue_join", "mode": mode})
        await player.expect("queue", mode=mode)


async def accept_all(players: list[Player], found: list[dict] | None = None) -> list[dict]:
    """Accept the ready check on every player's behalf; their ``match_ready`` messages."""
    found = found or [await p.expect("match_found") for p in players]
    for player, message in zip(players, found, strict=True):
        await player.send({"t": "ready", "check": message["check"], "accept": True})
    return [await p.expect("match_ready") for p in players]


async def test_queue_status_names_the_mode_rating_and_window():
    (ann,) = await online(1)
    await ann.send({"t": "queue_join", "mode": "duel"})
    status = await ann.expect("queue", mode="duel")
    assert status["rating"] == 1000
    assert status["size"] == 1
    assert status["window"] >= 100
    later = await ann.expect("queue", mode="duel", where=lambda m: m["waited"] >= 1, within=3)
    assert later["window"] > status["window"]  # it widens with time waited
    await ann.send({"t": "queue_leave"})
    await ann.expect("queue", mode="")


async def test_queueing_twice_and_leaving_without_a_queue_are_errors():
    (ann,) = await online(1)
    await queue([ann], "duel")
    await ann.send({"t": "queue_join", "mode": "ffa"})
    assert (await ann.expect("error"))["code"] == "already_queued"
    await ann.send({"t": "queue_leave"})
    await ann.expect("queue", mode="")
    await ann.send({"t": "queue_leave"})
    assert (await ann.expect("error"))["code"] == "not_queued"


async def test_two_duel_players_are_matched_accept_and_get_tickets_for_their_own_seats():
    ann, bob = await online(2)
    await queue([ann, bob], "duel")
    found = [await ann.expect("match_found"), await bob.expect("match_found")]
    assert found[0] == found[1]
    assert found[0]["mode"] == "duel"
    assert {p["id"] for p in found[0]["players"]} == {ann.user_id, bob.user_id}
    ready = await accept_all([ann, bob], found)
    assert ready[0]["match"] == ready[1]["match"]
    assert {r["seat"] for r in ready} == {0, 1}
    for player, message in zip((ann, bob), ready, strict=True):
        claims = ticket_verify(ticket=message["ticket"])
        assert (claims.match_id, claims.seat, claims.user_id) == (
            message["match"],
            message["seat"],
            player.user_id,
        )
    match = await database_sync_to_async(Match.objects.get)(pk=ready[0]["match"])
    assert match.mode == "duel"
    # In a match, nobody can queue again until it ends.
    await ann.send({"t": "queue_join", "mode": "duel"})
    assert (await ann.expect("error"))["code"] == "in_match"


async def test_a_decline_sends_the_others_back_to_the_front_and_drops_the_decliner():
    ann, bob = await online(2)
    await queue([ann, bob], "duel")
    check = (await ann.expect("match_found"))["check"]
    await bob.expect("match_found")
    await ann.send({"t": "ready", "check": check, "accept": True})
    await bob.send({"t": "ready", "check": check, "accept": False})
    cancelled = await ann.expect("match_cancelled")
    assert (cancelled["reason"], cancelled["requeued"]) == ("declined", True)
    assert (await ann.expect("queue"))["mode"] == "duel"
    assert (await bob.expect("match_cancelled"))["requeued"] is False
    await bob.send({"t": "queue_leave"})
    assert (await bob.expect("error"))["code"] == "not_queued"


async def test_a_player_who_does_not_answer_in_time_is_dropped(settings):
    settings.READY_CHECK_TIMEOUT = 1
    ann, bob = await online(2)
    await queue([ann, bob], "duel")
    check = (await ann.expect("match_found"))["check"]
    await ann.send({"t": "ready", "check": check, "accept": True})
    cancelled = await ann.expect("match_cancelled", within=4)
    assert (cancelled["reason"], cancelled["requeued"]) == ("timeout", True)
    assert (await bob.expect("match_cancelled"))["requeued"] is False


@pytest.mark.parametrize(
    ("check_of", "code"),
    [("stranger", "not_your_check"), ("nobody", "no_such_check")],
    ids=["others", "unknown"],
)
async def test_answering_a_ready_check_that_is_not_yours_is_refused(check_of, code):
    ann, bob, cat = await online(3)
    await queue([ann, bob], "duel")
    check = (await ann.expect("match_found"))["check"]
    await cat.send({"t": "ready", "check": check if check_of == "stranger" else 999, "accept": True})
    assert (await cat.expect("error"))["code"] == code
    # The real check is untouched: both its players can still accept.
    await ann.send({"t": "ready", "check": check, "accept": True})
    await bob.expect("match_found")
    await bob.send({"t": "ready", "check": check, "accept": True})
    assert (await ann.expect("match_ready"))["mode"] == "duel"


async def test_a_party_is_matched_together_on_the_same_team():
    ann, bob, cat, dan = await online(4)
    await form_party(ann, bob)
    await bob.send({"t": "queue_join", "mode": "team"})
    assert (await bob.expect("error"))["code"] == "not_party_leader"
    await ann.send({"t": "queue_join", "mode": "team"})
    await bob.expect("queue", mode="team")  # the whole party is queued
    await queue([cat, dan], "team")
    ready = await accept_all([ann, bob, cat, dan])
    teams = {r["team"] for r in ready[:2]}
    assert len(teams) == 1
    assert teams != {r["team"] for r in ready[2:]}


async def test_a_party_too_big_for_the_mode_cannot_queue():
    ann, bob = await online(2)
    await form_party(ann, bob)
    await ann.send({"t": "queue_join", "mode": "duel"})
    assert (await ann.expect("error"))["code"] == "party_too_big"


async def test_free_for_all_starts_a_smaller_match_after_the_wait(settings):
    settings.GAME_MODES = {**settings.GAME_MODES, "ffa": {**settings.GAME_MODES["ffa"], "wait": 1, "min": 3}}
    players = await online(3)
    await queue(players, "ffa")
    ready = await accept_all(players)
    assert sorted(r["seat"] for r in ready) == [0, 1, 2]
    assert {r["team"] for r in ready} == {-1}


async def test_leaving_the_lobby_while_queued_leaves_the_queue(no_lobby_grace):
    ann, bob = await online(2)
    await queue([ann], "duel")
    await ann.close()
    await queue([bob], "duel")
    await bob.expect("queue", mode="duel", where=lambda m: m["waited"] >= 1, within=3)
    assert (await bob.expect("queue", mode="duel"))["size"] == 1


async def test_a_reload_within_the_grace_period_keeps_the_queue_and_the_ready_check(settings):
    settings.LOBBY_RECONNECT_GRACE = 30
    ann, bob = await online(2)
    await queue([ann], "duel")
    await ann.close(code=1001)  # the only tab, reloaded (1000 would be signing out)
    await ann.open()
    assert (await ann.expect("queue", mode="duel"))["size"] == 1, "still queued, nothing lost"
    await queue([bob], "duel")
    check = (await ann.expect("match_found"))["check"]
    await ann.close(code=1001)
    await ann.open()
    again = await ann.expect("match_found")
    assert again["check"] == check
    ready = await accept_all([ann, bob], [again, await bob.expect("match_found")])
    assert ready[0]["match"] == ready[1]["match"], "the check went through with the returned player"


async def test_a_second_tab_sees_the_queue_and_a_ready_check_in_progress():
    ann, bob = await online(2)
    await queue([ann, bob], "duel")
    check = (await ann.expect("match_found"))["check"]
    await ann.open()
    assert (await ann.expect("match_found", socket=1))["check"] == check


async def matchmade_duel() -> tuple[Player, Player, list[dict]]:
    ann, bob = await online(2)
    await queue([ann, bob], "duel")
    return ann, bob, await accept_all([ann, bob])


def match_socket(ready: dict, player: Player, ticket: str | None = None) -> WebsocketCommunicator:
    headers = [*ORIGIN, (b"authorization", f"Bearer {player.token}".encode())]
    path = f"{ready['ws_path']}?ticket={ticket if ticket is not None else ready['ticket']}"
    return WebsocketCommunicator(application, path, headers=headers)


async def test_a_matchmade_ticket_lets_its_own_player_into_the_match():
    ann, _, ready = await matchmade_duel()
    comm = match_socket(ready[0], ann)
    assert (await comm.connect())[0]
    snapshot = await recv_until(comm, "snapshot")
    assert snapshot["seat"] == ready[0]["seat"]
    await comm.disconnect()


@pytest.mark.parametrize(
    ("case", "code", "close"),
    [
        ("another player's ticket", "wrong_player", 4403),
        ("forged ticket", "ticket_invalid", 4401),
        ("expired ticket", "ticket_expired", 4401),
    ],
)
async def test_a_matchmade_ticket_cannot_be_used_by_others_forged_or_after_expiry(
    settings, case, code, close
):
    ann, bob, ready = await matchmade_duel()
    ticket = ready[0]["ticket"]
    if case == "forged ticket":
        payload, stamp, signature = ticket.split(":")
        ticket = f"{payload}:{stamp}:{signature[:-2]}xx"
    if case == "expired ticket":
        settings.MATCH_TICKET_TTL = 0
        await asyncio.sleep(1.1)
    comm = match_socket(ready[0], bob if case == "another player's ticket" else ann, ticket)
    assert (await comm.connect())[0]
    assert (await recv(comm))["code"] == code
    assert await recv(comm) == {"t": "<close>", "code": close}


async def test_an_accepted_check_can_still_be_declined_before_the_match_is_made():
    ann, bob = await online(2)
    await queue([ann, bob], "duel")
    check = (await ann.expect("match_found"))["check"]
    await ann.send({"t": "ready", "check": check, "accept": True})
    await ann.expect("ready_update", accepted=[ann.user_id])
    await ann.send({"t": "ready", "check": check, "accept": False})
    assert (await ann.expect("match_cancelled"))["requeued"] is False
    assert (await bob.expect("match_cancelled"))["requeued"] is True


async def test_a_tab_opened_during_the_match_still_gets_the_seat_ticket():
    ann, _, ready = await matchmade_duel()
    await ann.open()
    again = await ann.expect("match_ready", socket=1)
    assert again == ready[0]
