"""Playing through MatchConsumer and the tick worker: frames, inputs, bad input, the end."""

import asyncio

import msgpack
import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from gameserver.asgi import application
from gameserver.groups import match_group
from match import services
from match.models import Match
from tests.match.conftest import ORIGIN, create_match, join, recv, recv_until, resume, send

pytestmark = pytest.mark.django_db(transaction=True)


def an_input(seq: int, **controls: object) -> dict:
    return {"t": "input", "seq": seq, "mx": 0, "my": 0, "aim": 0, "fire": False, **controls}


async def frame_where(comm, accept, limit: int = 40) -> dict:
    """The first frame that satisfies ``accept`` among the next ``limit`` frames."""
    for _ in range(limit):
        frame = await recv_until(comm, "frame")
        if accept(frame):
            return frame
    raise AssertionError(f"no frame matched within {limit} frames")


async def start_two(**overrides):
    match = await create_match(players=2, **overrides)
    a = await join(match, 0)
    await recv_until(a, "snapshot")
    b = await join(match, 1)
    await recv_until(b, "snapshot")
    assert (await recv_until(a, "phase"))["present"] in ([0], [0, 1])
    return match, a, b


async def test_the_match_runs_once_every_seat_joined_and_frames_come_in_tick_order(tick_worker):
    match, a, b = await start_two()
    phases = [await recv_until(b, "phase"), await recv_until(b, "phase")]
    assert phases == [
        {"t": "phase", "phase": "waiting", "present": [0, 1], "away": []},
        {"t": "phase", "phase": "running", "present": [0, 1], "away": []},
    ]
    ticks = [(await recv_until(b, "frame"))["tick"] for _ in range(10)]
    assert ticks == list(range(ticks[0], ticks[0] + 10))
    assert (await database_sync_to_async(Match.objects.get)(pk=match.id)).status == "running"
    await a.disconnect()
    await b.disconnect()


async def test_inputs_reach_the_simulation_and_are_acknowledged_per_seat(tick_worker):
    _match, a, b = await start_two()
    await recv_until(a, "frame")
    await send(a, an_input(1, mx=1))
    frame = await frame_where(b, lambda f: f["acks"][0] == 1)
    assert frame["acks"] == [1, 0]
    moved = []
    for _ in range(3):
        frame = await recv_until(b, "frame")
        moved += [p for p in frame["d"].get("p", []) if p["s"] == 0 and "x" in p]
    assert moved, "seat 0 kept moving right while its controls were held"
    await a.disconnect()
    await b.disconnect()


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("text frame", "text_frame"),
        (b"\xc1\xc1", "bad_encoding"),
        (b"\x92\x01\x02", "bad_shape"),
        ({"t": "teleport"}, "unknown_type"),
        ({"t": "input", "seq": 1, "mx": 5, "my": 0, "aim": 0, "fire": False}, "bad_input"),
        ({"t": "input", "seq": 1}, "bad_input"),
        ({"t": "ping", "id": "x"}, "bad_shape"),
        (b"\xc4" + b"\xff" + b"x" * 2000, "too_large"),
    ],
    ids=["text", "garbage", "array", "unknown", "bad-input", "missing-fields", "bad-ping", "oversized"],
)
async def test_a_bad_frame_gets_an_error_and_the_connection_and_match_carry_on(tick_worker, payload, code):
    _match, a, b = await start_two()
    await recv_until(a, "frame")
    if isinstance(payload, str):
        await a.send_to(text_data=payload)
    elif isinstance(payload, bytes):
        await a.send_to(bytes_data=payload)
    else:
        await send(a, payload)
    error = await recv_until(a, "error")
    assert error["code"] == code
    assert error["detail"]
    await send(a, {"t": "ping", "id": 7})
    assert (await recv_until(a, "pong"))["id"] == 7
    before = (await recv_until(a, "frame"))["tick"]
    assert (await recv_until(a, "frame"))["tick"] == before + 1
    other = [(await recv_until(b, "frame"))["tick"] for _ in range(before + 1)]
    assert other == list(range(1, before + 2)), "the other player saw every tick, in order"
    await a.disconnect()
    await b.disconnect()


async def test_a_flood_is_dropped_with_rate_limited_then_closed_4429(tick_worker, settings):
    settings.WS_RATE_PER_SEC = 5
    settings.WS_RATE_BURST = 5
    settings.WS_MAX_STRIKES = 20
    _match, a, b = await start_two()
    for i in range(1, 60):
        await send(a, {"t": "ping", "id": i})
    seen = []
    while True:
        message = await recv(a)
        seen.append(message)
        if message["t"] == "<close>":
            break
    kinds = [m.get("code") for m in seen if m["t"] == "error"]
    assert kinds[0] == "rate_limited"
    assert kinds.count("rate_limited") == 1, "at most one rate_limited error per second"
    assert kinds[-1] == "too_many_errors"
    assert seen[-1]["code"] == 4429
    assert sum(m["t"] == "pong" for m in seen) == 5, "the burst is served, the rest dropped"
    # The other player and the match are unaffected.
    first = (await recv_until(b, "frame"))["tick"]
    assert (await recv_until(b, "frame"))["tick"] == first + 1
    await b.disconnect()


async def test_repeated_protocol_errors_close_the_connection_4400(tick_worker, settings):
    settings.WS_MAX_STRIKES = 3
    _match, a, b = await start_two()
    for _ in range(4):
        await a.send_to(bytes_data=b"\xc1")
    codes = []
    while (message := await recv(a))["t"] != "<close>":
        if message["t"] == "error":
            codes.append(message["code"])
    assert codes == ["bad_encoding"] * 4 + ["too_many_errors"]
    assert message["code"] == 4400
    await b.disconnect()


async def test_a_match_ends_with_the_result_recorded_once_and_players_told(tick_worker):
    match, a, b = await start_two(time_limit_ticks=10)
    ends = [await recv_until(c, "end") for c in (a, b)]
    assert ends[0] == ends[1]
    assert ends[0]["result"]["reason"] == "time"
    assert sorted(r["s"] for r in ends[0]["result"]["ranking"]) == [0, 1]
    assert (await recv(a))["code"] == 1000
    stored = await database_sync_to_async(Match.objects.get)(pk=match.id)
    assert stored.status == "finished"
    assert stored.result == ends[0]["result"]
    assert stored.ticks == ends[0]["tick"] == 10
    assert stored.ended_at is not None
    again = await database_sync_to_async(services.match_finish)(match_id=str(match.id), result={}, ticks=1)
    assert again is False
    assert (await database_sync_to_async(Match.objects.get)(pk=match.id)).result == ends[0]["result"]


async def test_a_match_nobody_completes_is_aborted_after_the_join_timeout(tick_worker, settings):
    settings.MATCH_JOIN_TIMEOUT = 0.5
    match = await create_match(players=2)
    a = await join(match, 0)
    await recv_until(a, "snapshot")
    end = await recv_until(a, "end")
    assert end["result"]["reason"] == "aborted"
    assert (await database_sync_to_async(Match.objects.get)(pk=match.id)).status == "aborted"


async def test_a_reconnecting_player_gets_a_fresh_snapshot_and_the_frames_after_it(tick_worker):
    match, a, b = await start_two()
    await recv_until(a, "frame")
    await a.disconnect()
    await asyncio.sleep(0.2)
    again = await resume(match, a.credential)
    snapshot = await recv_until(again, "snapshot")
    assert snapshot["phase"] == "running"
    frame = await recv_until(again, "frame")
    assert frame["tick"] == snapshot["tick"] + 1
    await again.disconnect()
    await b.disconnect()


async def test_a_second_start_for_the_same_match_does_not_run_it_twice(tick_worker):
    match, a, b = await start_two()
    await services.amatch_request_start(match_id=str(match.id))
    await services.amatch_request_start(match_id=str(match.id))
    ticks = [(await recv_until(a, "frame"))["tick"] for _ in range(8)]
    assert ticks == sorted(set(ticks)), "one simulation: no tick repeated"
    assert ticks == list(range(ticks[0], ticks[0] + 8))
    await a.disconnect()
    await b.disconnect()


async def test_a_frame_lost_in_the_layer_is_never_forwarded_as_a_gap_but_resynced(tick_worker):
    match, a, b = await start_two()
    first = (await recv_until(a, "frame"))["tick"]
    layer = get_channel_layer()
    assert layer is not None
    # Pretend the layer dropped frames: a frame far ahead of what the consumers have seen.
    await layer.group_send(
        match_group(str(match.id)),
        {"type": "match.frame", "match": str(match.id), "tick": first + 50, "frame": b"bogus"},
    )
    seen = []
    while True:
        out = await a.receive_output(3)
        assert out["bytes"] != b"bogus", "a frame after a gap must not be forwarded"
        message = msgpack.unpackb(out["bytes"])
        seen.append(message)
        if message["t"] == "snapshot":
            break
    snapshot = seen[-1]
    after = [(await recv_until(a, "frame"))["tick"] for _ in range(3)]
    assert after == [snapshot["tick"] + 1, snapshot["tick"] + 2, snapshot["tick"] + 3]
    await a.disconnect()
    await b.disconnect()


async def test_a_websocket_path_no_route_matches_is_refused_at_the_handshake(tick_worker):
    comm = WebsocketCommunicator(application, "/ws/nowhere/", headers=ORIGIN)
    connected, _ = await comm.connect()
    assert not connected


async def test_a_connection_closed_for_misbehaving_leaves_its_seat_empty(tick_worker, settings):
    settings.WS_MAX_STRIKES = 1
    match = await create_match(players=2)
    a = await join(match, 0)
    await recv_until(a, "snapshot")
    for _ in range(2):
        await a.send_to(bytes_data=b"\xc1")
    while (message := await recv(a))["t"] != "<close>":
        pass
    assert message["code"] == 4400
    await a.disconnect()
    b = await join(match, 1)
    snapshot = await recv_until(b, "snapshot")
    assert snapshot["phase"] == "waiting"
    assert (await recv_until(b, "phase"))["present"] == [1], "the closed seat is not counted as present"
    await b.disconnect()


async def test_a_ticket_controls_only_its_own_seat(tick_worker):
    _match, a, b = await start_two()
    await recv_until(b, "frame")
    await send(b, an_input(5, my=1))
    frame = await frame_where(a, lambda f: f["acks"] != [0, 0])
    assert frame["acks"] == [0, 5]
    await a.disconnect()
    await b.disconnect()


async def test_a_player_who_disconnects_stops_moving_and_firing(tick_worker):
    _match, a, b = await start_two()
    await recv_until(a, "frame")
    await send(a, an_input(1, mx=1, my=1, fire=True))
    await frame_where(b, lambda f: f["acks"][0] == 1)
    await a.disconnect()
    await frame_where(b, lambda f: f["acks"][0] == 2)
    quiet = [await recv_until(b, "frame") for _ in range(12)]
    moved = [p for f in quiet for p in f["d"].get("p", []) if p["s"] == 0 and ("x" in p or "y" in p)]
    fired = [e for f in quiet for e in f["ev"] if e[0] == "fire" and e[1] == 0]
    assert quiet[-1]["acks"][0] == 2, "the server released the absent seat's controls"
    assert moved == []
    assert fired == []
    await b.disconnect()
