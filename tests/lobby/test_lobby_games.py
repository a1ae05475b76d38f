"""Games and modes through real consumers, the real matchmaker and the real tick worker: the
welcome's hints, the queue's ``need``, rooms that pick a game, and the ``rating`` message that
tells a draw from a win."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from gameserver.groups import MATCHMAKER_CHANNEL
from match.models import Match
from match.services import match_finish
from tests.lobby.conftest import Player, new_player, online, recv_until
from tests.lobby.test_queues import accept_all, match_socket, queue

pytestmark = pytest.mark.usefixtures("workers")

MINI = "tests.lobby.minigame"  # the arena's rules as a second game "mini", 2..4 players


async def welcome_of_newcomer() -> dict[str, Any]:
    newcomer = await new_player()
    return await recv_until(await newcomer.open(expect_welcome=False), "welcome")


async def test_the_welcome_tells_each_modes_game_size_teams_and_when_a_smaller_match_starts():
    welcome = await welcome_of_newcomer()
    assert welcome["modes"][:3] == [
        {"mode": "duel", "game": "arena", "players": 2, "team_size": 1, "min": 2, "wait": 0, "rated": True},
        {"mode": "team", "game": "arena", "players": 4, "team_size": 2, "min": 4, "wait": 0, "rated": True},
        {"mode": "ffa", "game": "arena", "players": 8, "team_size": 1, "min": 3, "wait": 20, "rated": True},
    ]
    assert welcome["games"][0] == {"game": "arena", "min": 2, "max": 8}
    assert list(welcome["ratings"])[:3] == ["duel", "team", "ffa"]
    assert set(welcome["ratings"].values()) == {1000}


async def test_the_welcome_follows_the_settings_with_a_new_game_and_an_unrated_mode(settings):
    settings.GAMES = ["match.games.arena", MINI]
    settings.GAME_MODES = {
        "duel": {"game": "arena", "players": 2},
        "mini": {"game": "mini", "players": 4, "min": 2, "wait": 10, "rated": False},
    }
    welcome = await welcome_of_newcomer()
    assert [
        (m["mode"], m["game"], m["players"], m["min"], m["wait"], m["rated"]) for m in welcome["modes"]
    ] == [
        ("duel", "arena", 2, 2, 0, True),
        ("mini", "mini", 4, 2, 10, False),
    ]
    assert welcome["games"] == [{"game": "arena", "min": 2, "max": 8}, {"game": "mini", "min": 2, "max": 4}]
    assert welcome["ratings"] == {"duel": 1000}, "ratings only for rated modes"


async def test_the_queue_status_says_how_many_the_next_match_needs_and_when_that_drops(settings):
    settings.GAME_MODES = {**settings.GAME_MODES, "ffa": {**settings.GAME_MODES["ffa"], "wait": 1, "min": 3}}
    ann, bob = await online(2)
    await ann.send({"t": "queue_join", "mode": "ffa"})
    first = await ann.expect("queue", mode="ffa")
    assert (first["size"], first["need"]) == (1, 8), "a full free-for-all until the wait is over"
    await queue([bob], "ffa")
    later = await ann.expect(
        "queue", mode="ffa", where=lambda m: m["waited"] >= 1 and m["size"] == 2, within=5
    )
    assert later["need"] == 3, "two of the three that may start it now"
    await ann.send({"t": "queue_leave"})
    assert (await ann.expect("queue", mode=""))["need"] == 0
    (cat,) = await online(1)
    await cat.send({"t": "queue_join", "mode": "duel"})
    assert (await cat.expect("queue", mode="duel"))["need"] == 2


async def test_two_players_never_start_the_default_free_for_all_and_the_hint_says_so(settings):
    settings.GAME_MODES = {**settings.GAME_MODES, "ffa": {**settings.GAME_MODES["ffa"], "wait": 1}}
    ann, bob = await online(2)
    await queue([ann, bob], "ffa")
    # Still queued past the wait (a found match would have ended the queue's statuses).
    status = await ann.expect("queue", mode="ffa", where=lambda m: m["waited"] >= 2, within=5)
    assert (status["size"], status["need"]) == (2, 3)
    await ann.send({"t": "queue_leave"})
    await ann.expect("queue", mode="")


async def create_room(host: Player, **fields: Any) -> dict[str, Any]:
    await host.send({"t": "room_create", "public": True, **fields})
    return await host.expect("room", where=lambda m: m["code"] != "")


async def test_a_room_plays_its_modes_game_unless_it_picks_another(settings):
    settings.GAMES = [*settings.GAMES, MINI]
    ann, bob, cat = await online(3)
    plain = await create_room(ann, mode="ffa", max=8)
    assert plain["game"] == "arena"
    listed = await cat.expect(
        "room_listed", event="created", where=lambda m: m["room"]["code"] == plain["code"]
    )
    assert listed["room"]["game"] == "arena"
    await ann.send({"t": "room_leave"})
    await ann.expect("room", code="")

    room = await create_room(ann, mode="ffa", max=3, game="mini")
    assert (room["game"], room["mode"], room["max"]) == ("mini", "ffa", 3)
    for player in (bob, cat):
        await player.send({"t": "room_join", "code": room["code"]})
        await player.expect("room", code=room["code"])
    await ann.send({"t": "room_start"})
    ready = [await p.expect("match_ready") for p in (ann, bob, cat)]
    match = await database_sync_to_async(Match.objects.get)(pk=ready[0]["match"])
    assert (match.game, match.mode) == ("mini", "room")
    assert {r["team"] for r in ready} == {-1}
    comm = match_socket(ready[0], ann)  # the tick worker runs it, knowing "mini" from GAMES alone
    assert (await comm.connect())[0]
    snapshot = await recv_until(comm, "snapshot")
    assert (snapshot["seat"], len(snapshot["state"]["players"])) == (ready[0]["seat"], 3)
    await comm.disconnect()


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"mode": "ffa", "max": 5, "game": "mini"}, "takes 2..4 players"),  # the game's own range
        ({"mode": "duel", "max": 3, "game": "mini"}, "takes 2..2 players"),  # capped by the mode
        ({"mode": "team", "max": 4, "game": "mini"}, "is not played in teams"),
        ({"mode": "ffa", "max": 4, "game": "chess"}, "unknown game 'chess'"),
    ],
    ids=["over the game's max", "over the mode's size", "teams of a teamless game", "unknown game"],
)
async def test_a_room_of_a_game_takes_that_games_players_and_only_its_team_modes(settings, fields, detail):
    settings.GAMES = [*settings.GAMES, MINI]
    (ann,) = await online(1)
    await ann.send({"t": "room_create", "public": False, **fields})
    error = await ann.expect("error", re="room_create")
    assert error["code"] == "bad_shape"
    assert detail in error["detail"]
    await create_room(ann, mode="ffa", max=4, game="mini")  # nothing was left half made


async def test_the_rating_message_says_a_draw_is_a_draw_and_splits_the_change():
    ann, bob = await online(2)
    await queue([ann, bob], "duel")
    ready = await accept_all([ann, bob])
    match_id = ready[0]["match"]
    seat_of = {ann.user_id: ready[0]["seat"], bob.user_id: ready[1]["seat"]}
    ranking = [{"s": seat, "n": f"p{seat}", "sc": 2, "rank": 1} for seat in sorted(seat_of.values())]
    assert await database_sync_to_async(match_finish)(
        match_id=match_id, result={"reason": "time", "tick": 40, "ranking": ranking}, ticks=40
    )
    layer = get_channel_layer()
    assert layer is not None
    await layer.send(MATCHMAKER_CHANNEL, {"type": "mm.match_ended", "match_id": match_id})
    for player in (ann, bob):
        rating = await player.expect("rating", match=match_id)
        assert (rating["mode"], rating["rank"], rating["outcome"], rating["before"]) == (
            "duel",
            1,
            "draw",
            1000,
        )
        assert rating["skill"] == 0, "equals who draw: no skill moved"
        assert rating["certainty"] == rating["after"] - rating["before"] > 0
