"""Presence and chat through real LobbyConsumers and the real matchmaker."""

from __future__ import annotations

import msgpack
import pytest
from channels.testing import WebsocketCommunicator

from gameserver.asgi import application
from gameserver.groups import MATCHMAKER_CHANNEL
from tests.lobby.conftest import ORIGIN, new_player, nothing_more, online, recv, recv_until

pytestmark = pytest.mark.usefixtures("workers")


async def test_a_connection_without_credentials_is_refused_with_4401():
    comm = WebsocketCommunicator(application, "/ws/lobby/", headers=ORIGIN)
    connected, _ = await comm.connect()
    assert connected
    assert (await recv(comm))["code"] == "unauthenticated"
    assert await recv(comm) == {"t": "<close>", "code": 4401}


async def test_a_bad_bearer_token_is_refused_with_4401():
    comm = WebsocketCommunicator(
        application, "/ws/lobby/", headers=[*ORIGIN, (b"authorization", b"Bearer nope")]
    )
    await comm.connect()
    assert (await recv(comm))["code"] == "unauthenticated"
    assert await recv(comm) == {"t": "<close>", "code": 4401}


async def test_welcome_says_who_i_am_my_ratings_and_who_is_online():
    ann = await new_player("ann")
    comm = await ann.open(expect_welcome=False)
    welcome = await recv_until(comm, "welcome")
    assert welcome["me"] == {"id": ann.user_id, "n": "ann", "guest": True}
    assert welcome["ratings"] == {"duel": 1000, "team": 1000, "ffa": 1000, "cycles": 1000}
    assert welcome["online"] == 1
    assert welcome["players"] == [{"id": ann.user_id, "n": "ann"}]
    await ann.close()


async def test_joins_and_leaves_are_pushed_and_two_tabs_are_one_presence(no_lobby_grace):
    ann, bob = await online(2)
    joined = await ann.expect("presence", where=lambda m: {"id": bob.user_id, "n": bob.name} in m["joined"])
    assert joined["online"] == 2
    await bob.open()  # a second tab
    await nothing_more(ann.ws, "presence")
    await bob.sockets.pop().disconnect()  # one tab closed: still online
    await nothing_more(ann.ws, "presence")
    await bob.close()
    left = await ann.expect("presence", left=[bob.user_id])
    assert left["online"] == 1
    await ann.close()


async def test_chat_reaches_everyone_with_control_characters_stripped():
    ann, bob = await online(2)
    await ann.send({"t": "chat", "text": "  hello\u202e\x07 there\n "})
    for player in (ann, bob):
        message = await player.expect("chat")
        assert message["text"] == "hello there"
        assert message["from"] == {"id": ann.user_id, "n": ann.name}
    await ann.close()
    await bob.close()


async def test_a_new_player_gets_the_last_chat_messages_on_join():
    (ann,) = await online(1)
    for i in range(3):
        await ann.send({"t": "chat", "text": f"line {i}"})
        await ann.expect("chat", text=f"line {i}")
    bob = await new_player()
    comm = await bob.open(expect_welcome=False)
    welcome = await recv_until(comm, "welcome")
    assert [m["text"] for m in welcome["chat"]][-3:] == ["line 0", "line 1", "line 2"]
    await ann.close()
    await bob.close()


@pytest.mark.parametrize(
    ("text", "code"),
    [("x" * 201, "bad_shape"), ("\x00\x01", "bad_shape"), ("", "bad_shape")],
    ids=["too long", "only control characters", "empty"],
)
async def test_bad_chat_is_answered_with_an_error_and_the_connection_stays(text, code):
    (ann,) = await online(1)
    await ann.send({"t": "chat", "text": text})
    assert (await ann.expect("error"))["code"] == code
    await ann.send({"t": "ping", "id": 5})
    assert (await ann.expect("pong"))["id"] == 5
    await ann.close()


async def test_a_chat_flood_is_rate_limited_and_only_the_burst_gets_through(settings):
    ann, bob = await online(2)
    for i in range(settings.CHAT_BURST + 5):
        await ann.send({"t": "chat", "text": f"spam {i}"})
    await ann.send({"t": "ping", "id": 1})
    texts: list[str] = []
    errors: list[str] = []
    while (message := await recv(ann.ws))["t"] != "pong":
        if message["t"] == "chat":
            texts.append(message["text"])
        elif message["t"] == "error":
            errors.append(message["code"])
    assert texts == [f"spam {i}" for i in range(settings.CHAT_BURST)]
    assert errors == ["rate_limited"]  # said once, not once per dropped message
    for i in range(settings.CHAT_BURST):
        assert (await bob.expect("chat"))["text"] == f"spam {i}"
    await ann.close()
    await bob.close()


async def test_a_sustained_chat_flood_closes_the_connection_with_4429(settings):
    settings.WS_MAX_STRIKES = 5
    (ann,) = await online(1)
    for i in range(settings.CHAT_BURST + 10):
        await ann.send({"t": "chat", "text": f"spam {i}"})
    while (message := await recv(ann.ws))["t"] != "<close>":
        pass
    assert message["code"] == 4429


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"t": "dance"}, "unknown_type"),
        ({"t": "queue_join"}, "bad_shape"),
        ({"t": "queue_join", "mode": "duel", "extra": 1}, "bad_shape"),
        ({"t": "queue_join", "mode": "chess"}, "bad_shape"),
        ({"t": "ready", "check": 1, "accept": 1}, "bad_shape"),
        ({"t": "party_invite", "player": -3}, "bad_shape"),
        ([1, 2], "bad_shape"),
    ],
    ids=[
        "unknown type",
        "missing field",
        "extra field",
        "unknown mode",
        "int for bool",
        "negative id",
        "not a map",
    ],
)
async def test_malformed_lobby_messages_get_a_clear_error_and_lose_nothing(message, code):
    (ann,) = await online(1)
    await ann.ws.send_to(bytes_data=msgpack.packb(message))
    assert (await ann.expect("error"))["code"] == code
    await ann.send({"t": "queue_join", "mode": "duel"})
    assert (await ann.expect("queue", mode="duel"))["rating"] == 1000
    await ann.close()


async def test_oversized_and_text_frames_are_refused_with_errors():
    (ann,) = await online(1)
    await ann.ws.send_to(bytes_data=b"\x80" * 5000)
    assert (await ann.expect("error"))["code"] == "too_large"
    await ann.ws.send_to(text_data="hi")
    assert (await ann.expect("error"))["code"] == "text_frame"
    await ann.close()


async def test_a_restarted_matchmaker_rebuilds_presence_from_the_open_sockets(workers):
    ann, bob = await online(2)
    await ann.send({"t": "queue_join", "mode": "ffa"})
    await ann.expect("queue", mode="ffa")
    # The matchmaker process dies and a new one starts with an empty lobby.
    (key,) = [k for k in workers.application_instances if k == MATCHMAKER_CHANNEL]
    workers.application_instances.pop(key)["future"].cancel()
    await bob.send({"t": "chat", "text": "anyone there?"})  # chat needs no matchmaker
    await ann.expect("chat", text="anyone there?")
    await bob.send({"t": "queue_join", "mode": "duel"})  # the first event boots the new one
    for player in (ann, bob):
        assert player.user_id in {p["id"] for p in (await player.expect("welcome"))["players"]}
    cat = await new_player()
    welcome = await recv_until(await cat.open(expect_welcome=False), "welcome")
    assert {p["id"] for p in welcome["players"]} == {ann.user_id, bob.user_id, cat.user_id}
    assert welcome["online"] == 3
    # Queues did not survive: Ann is told she is not queued and can queue again.
    await ann.expect("queue", mode="")
    await ann.send({"t": "queue_join", "mode": "ffa"})
    await ann.expect("queue", mode="ffa")
    await ann.close()
    await bob.close()


async def test_signing_out_closes_with_1000_and_leaves_at_once_despite_the_grace(settings):
    settings.LOBBY_RECONNECT_GRACE = 600
    ann, bob = await online(2)
    await ann.expect("presence", where=lambda m: {"id": bob.user_id, "n": bob.name} in m["joined"])
    await bob.sockets[0].disconnect(code=1000)
    bob.sockets.clear()
    assert (await ann.expect("presence", where=lambda m: bob.user_id in m["left"]))["online"] == 1
