"""Property-based tests of MatchConsumer through the real ASGI application (hypothesis).

One running match per test, reused by every example: seat 0 is the fuzzed socket, seat 1 an
honest player that only reads. Seat 0 holds still (one honest input, acknowledged before the
examples start), so the match state is static: every frame either socket gets must carry the
same acks and an empty delta. Each example sends one frame (random bytes, broken or odd msgpack,
well-shaped messages, text frames, oversized frames), then a ping probe; everything up to the
probe's pong is what the server answered. The answer must be what the codec and the arena's
input check say (``match_outcome``), never a close, and the honest seat must see every tick in
order. Valid inputs are made stale (``seq`` not above the acknowledged one: ignored, as
documented), so a rejected or ignored input can never change the state or the acks.

The other tests open seat 0 again for every example (a resume, which must release nothing):
the same answers right after it; bad frames at once, answered in order and closed 4400 exactly
past WS_MAX_STRIKES; a flood past the rate burst, dropped with one ``rate_limited`` and closed
4429 or 4400 as section 11 of docs/protocol.md says (``simulate``). No handler may raise (the
``gameserver_handler_errors_total`` counter stays put).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgpack
import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, Phase, assume, event, given, settings
from hypothesis import strategies as st

from gameserver import protocol
from gameserver.edge import metrics
from gameserver.protocol import UINT31_MAX, ErrorCode, Limits, ProtocolError
from match.models import Match
from tests.gameserver.test_properties import (
    MATCH_LIMITS,
    byte_frames,
    match_messages,
    match_outcome,
    weighted,
)
from tests.match.conftest import SeatCommunicator, create_match, join, recv, recv_until, resume, send

pytestmark = pytest.mark.django_db(transaction=True)

CONSUMER = settings(
    derandomize=True,
    # No shrinking: the examples share one match, and a failing one may leave it changed; the
    # codec tests in tests/gameserver/test_properties.py shrink the same inputs on their own.
    phases=[Phase.explicit, Phase.generate],
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one match for all the examples, on purpose
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
HONEST_SEQ = 1_000_000  # seat 0's one applied input; every valid input sent later is older
STILL = {"t": "input", "seq": HONEST_SEQ, "mx": 0, "my": 0, "aim": 0, "fire": False}
STRIKES = 8
Frame = str | bytes  # str: a text frame


def stale(message: dict[str, Any]) -> dict[str, Any]:
    """A valid-looking seq moved into 1..HONEST_SEQ: an input the server must ignore."""
    seq = message.get("seq")
    if message.get("t") == "input" and type(seq) is int and 1 <= seq <= UINT31_MAX:
        message = {**message, "seq": 1 + (seq - 1) % HONEST_SEQ}
    return message


FRAMES: st.SearchStrategy[Frame] = weighted(
    (4, byte_frames(MATCH_LIMITS, st.sampled_from(["input", "ping"]))),
    (5, match_messages().map(stale).map(protocol.encode)),
    (1, st.text(max_size=40)),  # text frames
    (1, st.binary(min_size=1025, max_size=6000)),  # over WS_MAX_MESSAGE_BYTES
)


def outcome(frame: Frame) -> ErrorCode | str:
    """The documented answer of a synced match socket: an error code, ``input`` or ``ping``."""
    if isinstance(frame, str):
        return ErrorCode.TEXT_FRAME
    try:
        message = protocol.decode(frame, Limits(max_message_bytes=django_settings.WS_MAX_MESSAGE_BYTES))
    except ProtocolError as exc:
        return exc.code
    return match_outcome(message)


def fresh_input(frame: Frame) -> bool:
    """A valid input the server would apply (random bytes almost never are one)."""
    if isinstance(frame, str) or outcome(frame) != protocol.INPUT:
        return False
    return bool(protocol.decode(frame)["seq"] > HONEST_SEQ)


_examples = itertools.count()


def distinct_channel_names() -> None:
    """Hypothesis seeds ``random`` alike for every example, and the in-memory layer names
    channels with it: without this, each example's socket would get the previous one's channel
    name, and a ``match.replaced`` "by" that name would be taken for its own."""
    random.seed(f"example {next(_examples)}")


def handler_errors() -> float:
    return sum(
        s.value for m in metrics.HANDLER_ERRORS.collect() for s in m.samples if s.name.endswith("_total")
    )


def unpack(out: dict[str, Any]) -> dict[str, Any]:
    if out["type"] == "websocket.close":
        return {"t": "<close>", "code": out.get("code")}
    assert out.get("bytes") is not None, f"server sent a non-binary frame: {out!r}"
    message: dict[str, Any] = msgpack.unpackb(out["bytes"])
    return message


def drain(comm: SeatCommunicator) -> list[dict[str, Any]]:
    """What the server has sent this socket so far, without waiting (a timed-out receive would
    cancel the application)."""
    queue = comm.output_queue
    return [unpack(queue.get_nowait()) for _ in range(queue.qsize())]


@dataclass
class Watch:
    """What one socket of the still match has received: ticks in order, nothing changing."""

    name: str
    tick: int = 0
    frames: int = 0
    log: list[str] = field(default_factory=list)

    def check(self, message: dict[str, Any], *, changes: bool = False) -> None:
        kind = message["t"]
        self.log.append(f"{kind}:{message.get('tick', message.get('code', ''))}")
        assert kind not in {"<close>", "end"}, f"{self.name} closed: {message!r}; {self.log[-12:]}"
        if kind == "snapshot":
            self.tick = message["tick"]
        elif kind == "frame":
            assert message["tick"] == self.tick + 1, f"{self.name}: a gap or a repeat: {self.log[-12:]}"
            self.tick = message["tick"]
            self.frames += 1
            if not changes:
                assert message["acks"] == [HONEST_SEQ, 0], f"{self.name}: the acks changed: {message!r}"
                assert message["d"] == {"tick": message["tick"]}, (
                    f"{self.name}: the state changed: {message!r}"
                )


@dataclass
class StillMatch:
    match: Match
    fuzzer: SeatCommunicator
    honest: SeatCommunicator
    fuzz_watch: Watch
    honest_watch: Watch
    probes: itertools.count[int] = field(default_factory=lambda: itertools.count(UINT31_MAX, -1))


async def still_match() -> StillMatch:
    """A running match whose seat 0 applied STILL; the frames up to that are read."""
    match = await create_match(players=2, time_limit_ticks=20 * 3600)
    fuzzer = await join(match, 0)
    await recv_until(fuzzer, "snapshot")
    honest = await join(match, 1)
    await recv_until(honest, "snapshot")
    await recv_until(fuzzer, "frame")
    await send(fuzzer, STILL)
    for _ in range(100):
        acked = await recv_until(fuzzer, "frame")
        if acked["acks"][0] == HONEST_SEQ:
            break
    else:
        raise AssertionError("seat 0's input was never acknowledged")
    while (frame := await recv_until(honest, "frame"))["tick"] < acked["tick"]:
        pass
    assert frame["tick"] == acked["tick"]
    return StillMatch(
        match=match,
        fuzzer=fuzzer,
        honest=honest,
        fuzz_watch=Watch("seat 0", tick=acked["tick"]),
        honest_watch=Watch("seat 1", tick=frame["tick"]),
    )


@pytest.fixture
async def still(tick_worker, settings) -> AsyncIterator[StillMatch]:
    settings.WS_MAX_STRIKES = 10**6  # every example spends strikes; the close has its own test
    settings.WS_RATE_PER_SEC = settings.WS_RATE_BURST = 10**6
    arena = await still_match()
    errors = handler_errors()
    yield arena
    assert handler_errors() == errors, "a handler raised (the socket was closed 1011)"
    await arena.fuzzer.disconnect()
    await arena.honest.disconnect()


async def send_frame(comm: SeatCommunicator, frame: Frame) -> None:
    """As the server hands a frame over (``send_to`` refuses empty ones)."""
    await comm.send_input({"type": "websocket.receive", "text" if isinstance(frame, str) else "bytes": frame})


async def until_pong(comm: SeatCommunicator, probe: int, watch: Watch | None = None) -> list[dict[str, Any]]:
    """Everything the socket gets up to the pong of ``probe`` (frames go to ``watch``)."""
    await send(comm, {"t": "ping", "id": probe})
    got = []
    while (message := await recv(comm, 10.0)) != {"t": "pong", "id": probe}:
        if watch is not None:
            watch.check(message)
        if message["t"] not in {"frame", "phase", "snapshot"}:
            got.append(message)
        if message["t"] == "<close>":
            break
    return got


@settings(CONSUMER, max_examples=800)
@given(frame=FRAMES)
async def test_every_frame_gets_its_documented_answer_and_changes_nothing(still, frame):
    assume(not fresh_input(frame))
    expected = outcome(frame)
    await send_frame(still.fuzzer, frame)
    got = await until_pong(still.fuzzer, next(still.probes), still.fuzz_watch)
    assert all(m["t"] != "<close>" for m in got), f"closed for {frame!r}: {got!r}"
    errors = [m for m in got if m["t"] == "error"]
    for error in errors:
        assert set(error) == {"t", "code", "detail"}, error
        assert isinstance(error["detail"], str)
        assert error["detail"]
    pongs = [m["id"] for m in got if m["t"] == "pong"]
    event(str(expected))
    if isinstance(expected, ErrorCode):
        assert [e["code"] for e in errors] == [expected], f"{frame!r}: {got!r}"
        assert pongs == []
    elif expected == protocol.PING:
        assert errors == []
        assert isinstance(frame, bytes)
        assert pongs == [protocol.decode(frame)["id"]]
    else:  # a valid but stale input: accepted, never answered, ignored
        assert got == [], f"{frame!r}: {got!r}"
    assert {m["t"] for m in got} <= {"error", "pong"}
    for message in drain(still.honest):
        still.honest_watch.check(message)


@settings(CONSUMER, max_examples=300)
@given(frame=FRAMES)
async def test_right_after_a_resume_the_answers_are_the_same_and_the_seat_keeps_its_state(still, frame):
    """Seat 0 resumed on a new socket (the old one told ``replaced``, closed 4409), the frame
    sent at once: the same answers, except that a valid input may get ``not_ready`` (sent
    before this socket's snapshot; the server accepts it without one when this process already
    follows the match); replacing the socket releases nothing: acks and state stay."""
    assume(not fresh_input(frame))
    distinct_channel_names()
    old = still.fuzzer
    comm = await resume(still.match, old.credential)
    last = []
    while (message := await recv(old, 10.0))["t"] != "<close>":
        last.append(message)
        assert len(last) < 1000, "never replaced"
    assert message["code"] == protocol.CloseCode.REPLACED, (message, last)
    assert last[-1] == {"t": "error", "code": "replaced", "detail": "a newer connection took this seat"}
    await old.disconnect()  # the client's side of the close: its cleanup runs, as under Daphne
    still.fuzzer = comm
    expected = outcome(frame)
    await send_frame(comm, frame)
    got: list[dict[str, Any]] = []
    synced = False
    probe = next(still.probes)
    await send(comm, {"t": "ping", "id": probe})
    while (message := await recv(comm, 10.0)) != {"t": "pong", "id": probe}:
        assert message["t"] != "<close>", f"closed for {frame!r}: {got!r}"
        if message["t"] == "snapshot":
            synced = True
            assert message["acks"] == [HONEST_SEQ, 0]
            still.fuzz_watch.tick = message["tick"]
        elif message["t"] in {"frame", "phase"}:
            assert synced, f"a {message['t']} before the snapshot"
            still.fuzz_watch.check(message)
        else:
            got.append(message)
    codes = [m["code"] for m in got if m["t"] == "error"]
    event(f"{expected} -> {codes}")
    if expected == protocol.INPUT:
        assert codes in ([], [ErrorCode.NOT_READY]), got
    elif isinstance(expected, ErrorCode):
        assert codes == [expected], f"{frame!r}: {got!r}"
    else:
        assert codes == []
    for message in drain(still.honest):
        # The honest seat sees seat 0 drop and come back (phase), and never a gap.
        still.honest_watch.check(message, changes=message["t"] != "frame")


@pytest.fixture
async def resumable(tick_worker, settings) -> AsyncIterator[StillMatch]:
    """The still match; each example opens seat 0 again (a resume) with its own limits."""
    arena = await still_match()
    errors = handler_errors()
    yield arena
    assert handler_errors() == errors, "a handler raised (the socket was closed 1011)"
    await arena.fuzzer.disconnect()
    await arena.honest.disconnect()


async def reopen(arena: StillMatch) -> SeatCommunicator:
    """Seat 0 on a fresh socket (the old one closed by the client), synced."""
    distinct_channel_names()
    await arena.fuzzer.disconnect()
    comm = arena.fuzzer = await resume(arena.match, arena.fuzzer.credential)
    await recv_until(comm, "snapshot")
    return comm


def simulate(frames: list[Frame], *, burst: int, strikes: int) -> tuple[list[str], int, int | None]:
    """The documented answers to frames sent at once (section 11): every message takes a rate
    token; without one it is dropped and spends a strike (``rate_limited`` said once); a bad one
    is answered and spends a strike; out of strikes, ``too_many_errors`` and the close (4429 if
    the last violation was a dropped message, else 4400). Returns the error codes, how many
    pings are answered, and the close code (None: still open)."""
    codes: list[str] = []
    pongs = 0
    said_rate_limited = False
    for result in map(outcome, frames):
        if burst == 0:
            if strikes == 0:
                return [*codes, ErrorCode.TOO_MANY_ERRORS], pongs, int(protocol.CloseCode.FLOOD)
            strikes -= 1
            if not said_rate_limited:
                codes.append(ErrorCode.RATE_LIMITED)
                said_rate_limited = True
            continue
        burst -= 1
        if isinstance(result, ErrorCode):
            codes.append(result)
            if strikes == 0:
                return [*codes, ErrorCode.TOO_MANY_ERRORS], pongs, int(protocol.CloseCode.PROTOCOL)
            strikes -= 1
        elif result == protocol.PING:
            pongs += 1
    return codes, pongs, None


def answers_in(got: list[dict[str, Any]]) -> tuple[list[str], int]:
    return [m["code"] for m in got if m["t"] == "error"], sum(m["t"] == "pong" for m in got)


@settings(CONSUMER, max_examples=80)
@given(
    frames=weighted(
        (1, st.lists(FRAMES, max_size=4)), (3, st.lists(FRAMES, min_size=STRIKES - 2, max_size=30))
    )
)
async def test_bad_frames_at_once_are_answered_in_order_and_closed_4400_only_past_the_strikes(
    resumable, settings, frames
):
    """One error per bad frame, in order; with more than WS_MAX_STRIKES of them,
    ``too_many_errors`` and a 4400 close right after the first one past the allowance, and
    nothing more; otherwise the probe after them is answered."""
    assume(not any(fresh_input(frame) for frame in frames))
    settings.WS_MAX_STRIKES = STRIKES
    settings.WS_RATE_PER_SEC = settings.WS_RATE_BURST = 10**6
    comm = await reopen(resumable)
    codes, pongs, close = simulate(frames, burst=10**6, strikes=STRIKES)
    event(f"closed {close}" if close else "open")
    for frame in frames:
        await send_frame(comm, frame)
    probe = next(resumable.probes)
    await send(comm, {"t": "ping", "id": probe})
    got = []
    while (message := await recv(comm, 10.0)) != {"t": "pong", "id": probe} and message["t"] != "<close>":
        if message["t"] not in {"frame", "phase", "snapshot"}:
            got.append(message)
    assert answers_in(got) == (codes, pongs), got
    if close is None:
        assert message == {"t": "pong", "id": probe}, f"closed after {len(codes)} errors: {message!r}"
    else:
        assert message == {"t": "<close>", "code": close}, got
        assert drain(comm) == [], "nothing after the close"
    for message in drain(resumable.honest):
        resumable.honest_watch.check(message, changes=True)


FLOOD_BURST = 10
# Mostly cheap frames (long lists of FRAMES make hypothesis give up on many examples).
FLOOD_FRAMES: st.SearchStrategy[Frame] = weighted(
    (
        3,
        st.sampled_from(
            [protocol.encode({"t": "ping", "id": 1}), b"\xc1", "text", protocol.encode({"t": "x"})]
        ),
    ),
    (1, FRAMES),
)


@settings(CONSUMER, max_examples=60)
@given(frames=st.lists(FLOOD_FRAMES, min_size=FLOOD_BURST + STRIKES + 1, max_size=FLOOD_BURST + STRIKES + 20))
async def test_a_flood_is_dropped_past_the_burst_and_closed_4429_or_4400_by_its_last_violation(
    resumable, settings, frames
):
    """More messages at once than the rate burst and the strikes allow: the burst is handled
    (errors for bad frames, pongs for pings), then messages are dropped with one
    ``rate_limited``, every one a strike, and the close comes with the strikes' end."""
    assume(not any(fresh_input(frame) for frame in frames))
    settings.WS_MAX_STRIKES = STRIKES
    settings.WS_RATE_BURST = FLOOD_BURST
    settings.WS_RATE_PER_SEC = 0.001  # no refill to speak of while the example runs
    comm = await reopen(resumable)
    codes, pongs, close = simulate(frames, burst=FLOOD_BURST, strikes=STRIKES)
    assert close is not None
    event(f"closed {close}")
    for frame in frames:
        await send_frame(comm, frame)
    got = []
    while (message := await recv(comm, 10.0))["t"] != "<close>":
        if message["t"] not in {"frame", "phase", "snapshot"}:
            got.append(message)
    assert answers_in(got) == (codes, pongs), got
    assert message == {"t": "<close>", "code": close}, got
    for message in drain(resumable.honest):
        resumable.honest_watch.check(message, changes=True)
