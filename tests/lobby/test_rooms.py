"""Private rooms through real consumers and the real matchmaker: codes, passwords, the live
list of open public rooms, and the host starting the match."""

from __future__ import annotations

import pytest

from tests.lobby.conftest import Player, new_player, online, recv_until

pytestmark = pytest.mark.usefixtures("workers")


async def create(host: Player, **fields) -> dict:
    await host.send({"t": "room_create", "mode": "ffa", "max": 3, "public": True, **fields})
    return await host.expect("room", where=lambda m: m["code"] != "")


async def test_a_public_room_is_listed_for_everyone_as_it_is_created_filled_and_started():
    ann, bob, cat, dan = await online(4)
    room = await create(ann)
    assert len(room["code"]) == 6
    assert (room["host"], room["members"]) == (
        {"id": ann.user_id, "n": ann.name},
        [{"id": ann.user_id, "n": ann.name}],
    )
    listed = await dan.expect("room_listed", event="created")
    assert listed["room"]["code"] == room["code"]
    assert (listed["room"]["count"], listed["room"]["locked"]) == (1, False)
    await bob.send({"t": "room_join", "code": room["code"].lower()})  # codes are case-insensitive
    assert (await dan.expect("room_listed", event="updated"))["room"]["count"] == 2
    await cat.send({"t": "room_join", "code": room["code"]})
    assert (await dan.expect("room_listed", event="filled"))["room"]["count"] == 3
    await ann.send({"t": "room_start"})
    assert (await dan.expect("room_listed", event="started"))["room"]["code"] == room["code"]
    ready = [await p.expect("match_ready") for p in (ann, bob, cat)]
    assert len({r["match"] for r in ready}) == 1
    assert sorted(r["seat"] for r in ready) == [0, 1, 2]
    # A newcomer's welcome no longer lists it.
    assert (await welcome_of_newcomer())["rooms"] == []


async def test_a_private_room_is_not_listed_but_can_be_joined_by_code():
    ann, bob = await online(2)
    room = await create(ann, public=False)
    await bob.send({"t": "room_join", "code": room["code"]})
    joined = await bob.expect("room", code=room["code"])
    assert [m["id"] for m in joined["members"]] == [ann.user_id, bob.user_id]
    assert (await welcome_of_newcomer())["rooms"] == []


async def test_a_newcomer_sees_open_public_rooms_in_the_welcome():
    (ann,) = await online(1)
    room = await create(ann)
    rooms = (await welcome_of_newcomer())["rooms"]
    assert [(r["code"], r["count"], r["max"], r["mode"]) for r in rooms] == [(room["code"], 1, 3, "ffa")]


async def welcome_of_newcomer() -> dict:
    newcomer = await new_player()
    comm = await newcomer.open(expect_welcome=False)
    return await recv_until(comm, "welcome")


async def test_a_password_protects_a_room():
    ann, bob = await online(2)
    room = await create(ann, password="hunter2")
    assert room["locked"] is True
    await bob.send({"t": "room_join", "code": room["code"], "password": "nope"})
    assert (await bob.expect("error"))["code"] == "wrong_password"
    await bob.send({"t": "room_join", "code": room["code"], "password": "hunter2"})
    await bob.expect("room", code=room["code"])


async def test_the_host_leaving_hands_the_room_on_and_the_last_one_leaving_closes_it():
    ann, bob, cat = await online(3)
    room = await create(ann)
    await bob.send({"t": "room_join", "code": room["code"]})
    await bob.expect("room", code=room["code"])
    await ann.send({"t": "room_leave"})
    assert (await bob.expect("room", where=lambda m: len(m.get("members", [])) == 1))["host"][
        "id"
    ] == bob.user_id
    await bob.send({"t": "room_leave"})
    assert (await cat.expect("room_listed", event="closed"))["room"]["code"] == room["code"]


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("join unknown", "no_such_room"),
        ("join full", "room_full"),
        ("start as guest", "not_room_host"),
        ("start alone", "not_enough_players"),
        ("leave without room", "not_in_room"),
        ("create twice", "in_room"),
        ("bad size", "bad_shape"),
    ],
)
async def test_room_mistakes_are_answered_with_errors_and_the_room_survives(case, code):
    ann, bob, cat = await online(3)
    await ann.send({"t": "room_create", "mode": "duel", "max": 2, "public": True})
    room = await ann.expect("room", where=lambda m: m["code"] != "")
    if case in {"join full", "start as guest"}:
        await bob.send({"t": "room_join", "code": room["code"]})
        await bob.expect("room", code=room["code"])
    requests = {
        "join unknown": (cat, {"t": "room_join", "code": "ZZZZZZ"}),
        "join full": (cat, {"t": "room_join", "code": room["code"]}),
        "start as guest": (bob, {"t": "room_start"}),
        "start alone": (ann, {"t": "room_start"}),
        "leave without room": (cat, {"t": "room_leave"}),
        "create twice": (ann, {"t": "room_create", "mode": "ffa", "max": 4, "public": True}),
        "bad size": (cat, {"t": "room_create", "mode": "duel", "max": 5, "public": True}),
    }
    who, message = requests[case]
    await who.send(message)
    assert (await who.expect("error", re=message["t"]))["code"] == code
    await ann.send({"t": "room_leave"})
    await ann.expect("room", code="")


async def test_a_team_room_starts_with_balanced_teams():
    players = await online(4)
    host = players[0]
    await host.send({"t": "room_create", "mode": "team", "max": 4, "public": False})
    room = await host.expect("room", where=lambda m: m["code"] != "")
    for player in players[1:]:
        await player.send({"t": "room_join", "code": room["code"]})
        await player.expect("room", code=room["code"])
    await host.send({"t": "room_start"})
    ready = [await p.expect("match_ready") for p in players]
    assert sorted(r["team"] for r in ready) == [0, 0, 1, 1]
