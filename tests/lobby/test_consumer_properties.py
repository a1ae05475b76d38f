"""Property-based tests of LobbyConsumer (and the matchmaker behind it) through the real ASGI
application (hypothesis).

Two guests online for all of a test's examples: ann, whose socket is fuzzed, and bob, who only
reads. Ann is idle (no party, queue, room or ready check) before every example. Each example
sends one frame (random bytes, broken or odd msgpack, lobby requests valid or broken, text
frames, oversized frames), then four probes the matchmaker answers in order:
``queue_leave``, ``party_leave``, ``room_leave`` (refused while ann is idle: they read her
state) and ``ready`` for a check that does not exist (always refused: the fence). The answer
must be the documented one (``lobby_outcome``: the codec, the schema, chat cleaning; then, for
requests, what the matchmaker answers an idle player, ``idle_answer``), nothing ever closes,
and a refused request changes nothing: the probes find ann idle, and neither ann nor bob gets
a state push. A request that was accepted is undone by the probes, which must then find her
idle again.

The last two tests open a new tab of ann's for every example: bad frames at once, answered in
order and closed 4400 exactly past WS_MAX_STRIKES (requests refused by the matchmaker cost no
strike); a flood past the rate burst, dropped with one ``rate_limited`` and closed 4429 or 4400
(``simulate``). No handler may raise (``gameserver_handler_errors_total`` stays put).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgpack
import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from gameserver import protocol
from gameserver.edge import metrics
from gameserver.protocol import UINT31_MAX, CloseCode, ErrorCode, Limits, ProtocolError
from gameserver.protocol import lobby as lp
from lobby.consumers import LOBBY_MAX_STR_BYTES
from lobby.modes import game_infos, game_modes
from lobby.services.chat import EmptyChat, chat_clean
from tests.gameserver.test_properties import LOBBY_LIMITS, byte_frames, lobby_messages, weighted
from tests.lobby.conftest import Player, online
from tests.match.conftest import recv

pytestmark = pytest.mark.usefixtures("workers")

CONSUMER = settings(
    derandomize=True,
    deadline=None,
    # No shrinking: the examples share one lobby, and a failing one may leave it changed; the
    # codec tests in tests/gameserver/test_properties.py shrink the same inputs on their own.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one lobby for all the examples, on purpose
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
Frame = str | bytes  # str: a text frame
NO_CHECK = UINT31_MAX  # a ready check that never exists (ids count up from 1)
PROBES: list[dict[str, Any]] = [
    {"t": "queue_leave"},
    {"t": "party_leave"},
    {"t": "room_leave"},
    {"t": "ready", "check": NO_CHECK, "accept": False},
]
IDLE = {"queue_leave": "not_queued", "party_leave": "not_in_party", "room_leave": "not_in_room"}
STATE_PUSHES = {
    "party",
    "party_invited",
    "queue",
    "match_found",
    "ready_update",
    "match_cancelled",
    "match_ready",
    "room",
    "room_listed",
}
# Documented refusals by the matchmaker (docs/protocol.md section 9): with ``re``, no strike.
MATCHMAKER_CODES = {
    "player_offline",
    "cannot_target_self",
    "no_such_party",
    "not_in_party",
    "not_party_leader",
    "already_in_party",
    "party_full",
    "party_too_big",
    "already_queued",
    "not_queued",
    "in_match",
    "no_such_check",
    "not_your_check",
    "no_such_room",
    "wrong_password",
    "room_full",
    "in_room",
    "not_in_room",
    "not_room_host",
    "not_enough_players",
    "busy",
    "bad_shape",
    "unavailable",
}
SOCKET_CODES = {"text_frame", "too_large", "bad_encoding", "bad_shape", "unknown_type"}

FRAMES: st.SearchStrategy[Frame] = weighted(
    (6, byte_frames(LOBBY_LIMITS, st.sampled_from(sorted(lp.CLIENT_TYPES)))),
    (1, st.text(max_size=40)),  # text frames
    (1, st.binary(min_size=1025, max_size=6000)),  # over WS_MAX_MESSAGE_BYTES
)


def decode(frame: bytes) -> dict[str, Any]:
    limits = Limits(max_message_bytes=django_settings.WS_MAX_MESSAGE_BYTES, max_str_len=LOBBY_MAX_STR_BYTES)
    return protocol.decode(frame, limits)


def lobby_outcome(frame: Frame) -> ErrorCode | str:
    """What the lobby socket does with a frame: a socket-level error code, or the type of the
    accepted message (``ping``, ``chat``, or a request for the matchmaker)."""
    if isinstance(frame, str):
        return ErrorCode.TEXT_FRAME
    try:
        message = decode(frame)
        kind = lp.check_lobby_message(message)
    except ProtocolError as exc:
        return exc.code
    if kind == lp.CHAT:
        try:
            chat_clean(message["text"])
        except EmptyChat:
            return ErrorCode.BAD_SHAPE
    return kind


def idle_answer(message: dict[str, Any], ann: Player, bob: Player) -> str | None:
    """The matchmaker's answer to a well-formed request from idle ann while bob is online and
    idle: an error code, or None when it is accepted (the state changes)."""
    kind = message["t"]
    if kind == "party_invite":
        return {ann.user_id: "cannot_target_self", bob.user_id: None}.get(message["player"], "player_offline")
    if kind == "room_create":
        mode = game_modes()[message["mode"]]
        game = game_infos().get(message.get("game", mode.game))
        if game is None or (mode.has_teams and not game.teams):
            return "bad_shape"
        low, high = (
            max(game.min_players, mode.teams if mode.has_teams else 1),
            min(game.max_players, mode.players),
        )
        return None if low <= message["max"] <= high else "bad_shape"
    return {
        "party_accept": "no_such_party",
        "party_decline": "no_such_party",
        "party_leave": "not_in_party",
        "party_kick": "not_in_party",
        "queue_join": None,
        "queue_leave": "not_queued",
        "ready": "no_such_check",
        "room_join": "no_such_room",
        "room_leave": "not_in_room",
        "room_start": "not_in_room",
    }[kind]


_examples = itertools.count()


def distinct_channel_names() -> None:
    """Hypothesis seeds ``random`` alike for every example, and the in-memory layer names
    channels with it: without this, each example's new socket would get the last one's name."""
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


def drain(comm: WebsocketCommunicator) -> list[dict[str, Any]]:
    """What the server has sent so far, without waiting (a timed-out receive would cancel the
    application)."""
    queue = comm.output_queue
    return [unpack(queue.get_nowait()) for _ in range(queue.qsize())]


async def send_frame(comm: WebsocketCommunicator, frame: Frame) -> None:
    """As the server hands a frame over (``send_to`` refuses empty ones)."""
    await comm.send_input({"type": "websocket.receive", "text" if isinstance(frame, str) else "bytes": frame})


async def send(comm: WebsocketCommunicator, message: dict[str, Any]) -> None:
    await comm.send_to(bytes_data=msgpack.packb(message))


@dataclass
class Lobby:
    ann: Player
    bob: Player
    accepted: dict[str, int] = field(default_factory=dict)  # accepted requests, by type
    bob_saw: dict[str, int] = field(default_factory=dict)  # bob's messages, by type

    def watch_bob(self, *, strictly: bool = True) -> None:
        """Bob's pushes can only come from ann's accepted requests (invites, public rooms)."""
        for message in drain(self.bob.ws):
            kind = message["t"]
            assert kind not in {"<close>", "error"}, message
            self.bob_saw[kind] = self.bob_saw.get(kind, 0) + 1
        if not strictly:
            return
        assert self.bob_saw.get("party_invited", 0) <= self.accepted.get("party_invite", 0), self.bob_saw
        assert self.bob_saw.get("room_listed", 0) <= 2 * self.accepted.get("room_create", 0), self.bob_saw
        assert not set(self.bob_saw) & (STATE_PUSHES - {"party_invited", "room_listed"}), self.bob_saw


@pytest.fixture
async def lobby(settings) -> AsyncIterator[Lobby]:
    # Every example spends strikes and chat lines; the closes have their own test.
    settings.WS_MAX_STRIKES = settings.WS_RATE_PER_SEC = settings.WS_RATE_BURST = 10**6
    settings.CHAT_RATE_PER_SEC = settings.CHAT_BURST = 10**6
    ann, bob = await online(2)
    for player in (ann, bob):  # the last of the state messages after welcome (section 8.3)
        await player.expect("room", code="")
    errors = handler_errors()
    state = Lobby(ann, bob)
    yield state
    assert handler_errors() == errors, "a handler raised (the socket was closed 1011)"
    state.watch_bob()
    await ann.close(1001)
    await bob.close(1001)


async def probe(comm: WebsocketCommunicator, fences: int) -> list[dict[str, Any]]:
    """Send the probes; everything up to the ``fences``-th refused ``ready``."""
    for message in PROBES:
        await send(comm, message)
    got: list[dict[str, Any]] = []
    while fences:
        message = await recv(comm, 10.0)
        assert message["t"] != "<close>", f"closed: {message!r} after {got!r}"
        got.append(message)
        if message["t"] == "error" and message.get("re") == "ready":
            fences -= 1
    return got


def idle_probes(got: list[dict[str, Any]]) -> bool:
    """The probes' answers say ann is idle, and nothing changed for her."""
    refusals = {m["re"]: m["code"] for m in got if m["t"] == "error" and m.get("re") in IDLE}
    pushes = [m["t"] for m in got if m["t"] in STATE_PUSHES]
    return refusals == IDLE and pushes == []


async def exchange(lobby: Lobby, frame: Frame) -> None:
    """One example: the frame, the probes, and the checks (see the module docstring)."""
    ann = lobby.ann
    outcome = lobby_outcome(frame)
    message = decode(frame) if isinstance(frame, bytes) and outcome in lp.CLIENT_TYPES else {}
    forwarded = outcome in lp.CLIENT_TYPES - {lp.PING, lp.CHAT}
    expected = idle_answer(message, ann, lobby.bob) if forwarded else None
    event(f"{outcome} -> {expected}" if forwarded else str(outcome))
    await send_frame(ann.ws, frame)
    got = await probe(ann.ws, fences=2 if outcome == lp.READY else 1)
    for error in (m for m in got if m["t"] == "error"):
        assert set(error) <= {"t", "code", "detail", "re"}
        assert error["detail"]
        assert isinstance(error["detail"], str)
    socket_errors = [m["code"] for m in got if m["t"] == "error" and "re" not in m]
    assert socket_errors == ([outcome] if isinstance(outcome, ErrorCode) else []), f"{frame!r}: {got!r}"
    pongs = [m["id"] for m in got if m["t"] == "pong"]
    assert pongs == ([message["id"]] if outcome == lp.PING else [])
    chats = [m for m in got if m["t"] == "chat"]
    if outcome == lp.CHAT:  # broadcast before the probes' answers (the same channel, first)
        assert [(c["from"]["id"], c["text"]) for c in chats] == [(ann.user_id, chat_clean(message["text"]))]
    else:
        assert chats == []
    answers = [m for m in got if m["t"] == "error" and m.get("re") == outcome]
    if not forwarded:
        assert idle_probes(got), f"{frame!r} changed ann's state: {got!r}"
    elif expected is not None:  # refused: one error naming the request, nothing changed
        # (a request of a probe's type gets the probe's answer twice)
        twice = outcome in {probe["t"] for probe in PROBES}
        assert [a["code"] for a in answers] == [expected] * (1 + twice), f"{message!r}: {got!r}"
        assert expected in MATCHMAKER_CODES
        assert idle_probes(got), f"refused {message!r} changed ann's state: {got!r}"
    else:  # accepted: it showed (a state push, no refusal), the probes undid it
        assert answers == [], f"{message!r}: {got!r}"
        assert any(m["t"] in STATE_PUSHES for m in got), f"accepted {message!r} showed nothing: {got!r}"
        lobby.accepted[str(outcome)] = lobby.accepted.get(str(outcome), 0) + 1
        again = await probe(ann.ws, fences=1)
        assert idle_probes(again), f"the probes did not undo {message!r}: {got!r} then {again!r}"
    lobby.watch_bob()


def aimed(message: dict[str, Any], ann: Player, bob: Player) -> dict[str, Any]:
    """Point some player ids at ann and bob, so invites and kicks reach someone."""
    value = message.get("player")
    if type(value) is int and 1 <= value <= UINT31_MAX and value % 3:
        message = {**message, "player": ann.user_id if value % 3 == 1 else bob.user_id}
    return message


@settings(CONSUMER, max_examples=500)
@given(frame=FRAMES)
async def test_every_frame_gets_its_documented_answer_and_a_refusal_changes_nothing(lobby, frame):
    await exchange(lobby, frame)


@settings(CONSUMER, max_examples=600)
@given(message=lobby_messages())
async def test_every_request_gets_the_matchmaker_s_documented_answer_and_a_refusal_changes_nothing(
    lobby, message
):
    await exchange(lobby, protocol.encode(aimed(message, lobby.ann, lobby.bob)))


# --- strikes and floods: a fresh socket (a second tab of ann's) per example ---------------------

STRIKES = 8
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


def simulate(frames: list[Frame], *, burst: int, strikes: int) -> tuple[list[str], int, int | None]:
    """The documented socket-level answers to frames sent at once (section 11), as for match
    sockets; requests for the matchmaker cost the socket nothing but a rate token."""
    codes: list[str] = []
    pongs = 0
    said_rate_limited = False
    for outcome in map(lobby_outcome, frames):
        if burst == 0:
            if strikes == 0:
                return [*codes, ErrorCode.TOO_MANY_ERRORS], pongs, int(CloseCode.FLOOD)
            strikes -= 1
            if not said_rate_limited:
                codes.append(ErrorCode.RATE_LIMITED)
                said_rate_limited = True
            continue
        burst -= 1
        if isinstance(outcome, ErrorCode):
            codes.append(outcome)
            if strikes == 0:
                return [*codes, ErrorCode.TOO_MANY_ERRORS], pongs, int(CloseCode.PROTOCOL)
            strikes -= 1
        elif outcome == lp.PING:
            pongs += 1
    return codes, pongs, None


@pytest.fixture
async def tabs(settings) -> AsyncIterator[Lobby]:
    settings.CHAT_RATE_PER_SEC = settings.CHAT_BURST = 10**6
    ann, bob = await online(2)
    errors = handler_errors()
    yield Lobby(ann, bob)
    assert handler_errors() == errors, "a handler raised (the socket was closed 1011)"
    await ann.close(1001)
    await bob.close(1001)


async def new_tab(lobby: Lobby) -> WebsocketCommunicator:
    distinct_channel_names()
    for comm in lobby.ann.sockets[1:]:
        await comm.disconnect(code=1001)  # a closed tab, not a sign-out
    del lobby.ann.sockets[1:]
    return await lobby.ann.open()


def socket_answers(got: list[dict[str, Any]]) -> tuple[list[str], int]:
    return [m["code"] for m in got if m["t"] == "error" and "re" not in m], sum(m["t"] == "pong" for m in got)


BURSTS = weighted((1, st.lists(FRAMES, max_size=4)), (3, st.lists(FRAMES, min_size=STRIKES - 2, max_size=30)))


@settings(CONSUMER, max_examples=60)
@given(frames=BURSTS)
async def test_bad_frames_at_once_are_answered_in_order_and_closed_4400_only_past_the_strikes(
    tabs, settings, frames
):
    settings.WS_MAX_STRIKES = STRIKES
    settings.WS_RATE_PER_SEC = settings.WS_RATE_BURST = 10**6
    comm = await new_tab(tabs)
    codes, pongs, close = simulate(frames, burst=10**6, strikes=STRIKES)
    event(f"closed {close}" if close else "open")
    for frame in frames:
        await send_frame(comm, frame)
    fence = UINT31_MAX - next(_examples)
    await send(comm, {"t": "ping", "id": fence})
    got = []
    while (message := await recv(comm, 10.0)) != {"t": "pong", "id": fence} and message["t"] != "<close>":
        got.append(message)
    assert socket_answers(got) == (codes, pongs), got
    assert message == ({"t": "pong", "id": fence} if close is None else {"t": "<close>", "code": close}), got
    assert all(m["code"] in MATCHMAKER_CODES for m in got if m["t"] == "error" and "re" in m), got
    tabs.watch_bob(strictly=False)


@settings(CONSUMER, max_examples=50)
@given(frames=st.lists(FLOOD_FRAMES, min_size=FLOOD_BURST + STRIKES + 1, max_size=FLOOD_BURST + STRIKES + 20))
async def test_a_flood_is_dropped_past_the_burst_and_closed_4429_or_4400_by_its_last_violation(
    tabs, settings, frames
):
    settings.WS_MAX_STRIKES = STRIKES
    settings.WS_RATE_BURST = FLOOD_BURST
    settings.WS_RATE_PER_SEC = 0.001  # no refill to speak of while the example runs
    comm = await new_tab(tabs)
    codes, pongs, close = simulate(frames, burst=FLOOD_BURST, strikes=STRIKES)
    assert close is not None
    event(f"closed {close}")
    for frame in frames:
        await send_frame(comm, frame)
    got = []
    while (message := await recv(comm, 10.0))["t"] != "<close>":
        got.append(message)
    assert socket_answers(got) == (codes, pongs), got
    assert message == {"t": "<close>", "code": close}, got
    tabs.watch_bob(strictly=False)
