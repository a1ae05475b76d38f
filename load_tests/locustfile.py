"""Locust players for the game backend: the whole journey, as real clients make it.

Run it with ``make loadtest`` (docs/load-testing.md), or by hand::

    locust -f load_tests/locustfile.py --host http://127.0.0.1:8000

User classes (weighted; name some on the command line to run only those):

* ``MatchPlayer``: token, lobby, queue for a mode, accept the ready check, play the match
  with the ticket (inputs at ``--input-hz``), back to the lobby, and again.
* ``PartyPlayers``: one Locust user is a whole party (``--party-size`` players): the leader
  invites, the others accept, the leader queues them together, they play together.
* ``RoomPlayers``: one Locust user is a private room: a host creates it with a password,
  ``--room-size - 1`` joiners join by code, the host starts it, they all play.
* ``LobbyIdler``: sits in the lobby, sees presence, chats and pings, leaves, comes back.

Every step is a Locust request entry (names in ``STEPS``); anything the protocol does not
promise (a tick gap, an ``error``, a close before ``end``, a ready check that never comes) is a
failure with its reason. Sockets are websocket-client's, cooperative under Locust's gevent,
with one receiver greenlet each. Protocol names come from ``gameserver.protocol``.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import secrets
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gevent
import msgpack
import websocket
from gevent.event import Event
from gevent.queue import Empty, Queue
from locust import HttpUser, between, events, task
from locust.env import Environment
from locust.runners import WorkerRunner

# `locust -f load_tests/locustfile.py` puts load_tests/ on the path, not the project.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gameserver.protocol import (
    END,
    ERROR,
    FRAME,
    INPUT,
    PHASE,
    PHASE_RUNNING,
    PING,
    PONG,
    SNAPSHOT,
    CloseCode,
    encode,
)
from gameserver.protocol import lobby as lp
from load_tests.steps import (
    BACK_TO_LOBBY,
    CHAT,
    FRAME_GAPS,
    FRAMES_PER_SECOND,
    INPUT_TO_STATE,
    LOBBY,
    LOBBY_CONNECT,
    LOBBY_PING,
    LOBBY_SOCKET,
    LOGOUT,
    MATCH,
    MATCH_DURATION,
    MATCH_JOIN,
    MATCH_SOCKET,
    MATCHMAKING_WAIT,
    PARTY_ACCEPT,
    PARTY_INVITE,
    READY_TO_START,
    ROOM_CREATE,
    ROOM_JOIN,
    ROOM_START,
    TOKEN,
)

log = logging.getLogger("loadtest")

# Players a queue needs before a match can form (ffa: MM_FFA_MIN's default, after MM_FFA_WAIT).
MODE_NEEDS = {lp.DUEL: 2, lp.TEAM: 4, lp.FFA: 3}
WAIT_TIMEOUT = 30.0  # seconds for any answer the server owes at once (welcome, party, room, ...)
RECV_TIMEOUT = 60.0  # a socket with nothing for this long is dead (the server pings every 20 s)
_server_index = itertools.count()
_stopping = False


@events.init_command_line_parser.add_listener
def _options(parser: Any, **_kwargs: Any) -> None:
    group = parser.add_argument_group("game backend")
    group.add_argument(
        "--servers",
        default="",
        help="comma-separated server URLs to spread players over (a cluster); default: --host only",
    )
    group.add_argument(
        "--mode-weights", default="duel:4,team:3,ffa:3", help="MatchPlayer's queue choice, mode:weight,..."
    )
    group.add_argument("--input-hz", type=float, default=20.0, help="inputs per second while playing")
    group.add_argument(
        "--latency-sample",
        type=int,
        default=4,
        help="report every Nth acknowledged input as input-to-state (1: every one)",
    )
    group.add_argument(
        "--matches-per-session", type=int, default=3, help="matches a player plays before signing out"
    )
    group.add_argument(
        "--matchmaking-timeout",
        type=float,
        default=90.0,
        help="seconds in a queue before giving up (a failure if the queue held enough players)",
    )
    group.add_argument("--party-size", type=int, default=2, help="players per PartyPlayers user")
    group.add_argument("--party-mode", default=lp.TEAM, choices=lp.MODES, help="what parties queue for")
    group.add_argument(
        "--room-size", type=int, default=4, help="players per RoomPlayers user (host included)"
    )
    group.add_argument("--room-mode", default=lp.FFA, choices=lp.MODES, help="what private rooms play")
    group.add_argument("--idle-session", type=float, default=60.0, help="seconds a LobbyIdler stays")
    group.add_argument("--chat-interval", type=float, default=10.0, help="seconds between an idler's lines")
    group.add_argument("--max-fail-ratio", type=float, default=0.01, help="threshold: failures/requests")
    group.add_argument(
        "--max-input-p99", type=float, default=250.0, help="threshold: p99 input-to-state latency, ms"
    )
    group.add_argument(
        "--max-matchmaking-p99", type=float, default=60000.0, help="threshold: p99 matchmaking wait, ms"
    )


@events.test_start.add_listener
def _started(**_kwargs: Any) -> None:
    global _stopping
    _stopping = False


@events.test_stopping.add_listener
def _stopping_now(**_kwargs: Any) -> None:
    """Users are about to be killed: what breaks from here on is the test ending, not the server."""
    global _stopping
    _stopping = True


@events.quitting.add_listener
def _thresholds(environment: Environment, **_kwargs: Any) -> None:
    """Decide the exit code from the thresholds (where the stats are: master or local runner)."""
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options is None:
        return
    options = environment.parsed_options
    stats = environment.stats
    crossed = []
    if stats.total.fail_ratio > options.max_fail_ratio:
        crossed.append(f"failure ratio {stats.total.fail_ratio:.4f} > {options.max_fail_ratio}")
    for name, limit in (
        (INPUT_TO_STATE, options.max_input_p99),
        (MATCHMAKING_WAIT, options.max_matchmaking_p99),
    ):
        kind = MATCH if name == INPUT_TO_STATE else LOBBY
        entry = stats.entries.get((name, kind))
        if entry is None or not entry.num_requests:
            log.warning("threshold on %r not checked: no samples", name)
            continue
        p99 = entry.get_response_time_percentile(0.99)
        if p99 > limit:
            crossed.append(f"p99 {name} {p99:.0f} ms > {limit:.0f} ms")
    if not stats.total.num_requests:
        crossed.append("no requests at all")
    for line in crossed:
        log.error("threshold crossed: %s", line)
    if not crossed:
        log.info("thresholds held")
    environment.process_exit_code = 1 if crossed else 0


class StepFailed(Exception):
    """A step went wrong and was reported; the journey starts over."""


class TimedOut(StepFailed):
    """No answer in time, not yet reported: the caller decides whether it is a failure."""


class Failure(Exception):
    """What Locust's failure table shows: the reason, without the exception's class."""

    def __repr__(self) -> str:
        return str(self)


def now_ms() -> float:
    return time.perf_counter() * 1000.0


def field_is(key: str, value: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda message: message.get(key) == value


def weighted(spec: str) -> Callable[[], str]:
    """``duel:4,team:3`` -> a function drawing a mode with those weights."""
    modes, weights = [], []
    for part in spec.split(","):
        mode, _, weight = part.partition(":")
        if mode.strip() not in lp.MODES:
            raise ValueError(f"--mode-weights: unknown mode {mode!r} (modes: {', '.join(lp.MODES)})")
        modes.append(mode.strip())
        weights.append(float(weight or 1))
    return lambda: random.choices(modes, weights)[0]


class Socket:
    """One WebSocket and the greenlet that reads it; ``handle`` gets every decoded message."""

    def __init__(
        self, url: str, origin: str, token: str, handle: Callable[[dict[str, Any], int], None]
    ) -> None:
        self.ws = websocket.create_connection(
            url,
            timeout=WAIT_TIMEOUT,
            origin=origin,
            header=[f"Authorization: Bearer {token}"],
            enable_multithread=True,  # the receiver answers pings while the player sends
        )
        self.ws.settimeout(RECV_TIMEOUT)
        self.handle = handle
        self.close_code: int | None = None
        self.server_closed = False
        self.closed = Event()
        self.reason = ""
        self.receiver = gevent.spawn(self._receive)

    def _receive(self) -> None:
        try:
            while True:
                opcode, data = self.ws.recv_data()  # pings are answered inside
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self.server_closed = True
                    self.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
                    return
                if opcode != websocket.ABNF.OPCODE_BINARY:
                    self.reason = f"unexpected frame opcode {opcode}"
                    return
                self.handle(msgpack.unpackb(data), len(data))
        except websocket.WebSocketTimeoutException:
            self.reason = f"nothing received for {RECV_TIMEOUT:.0f} s"
        except (websocket.WebSocketException, OSError) as exc:
            self.reason = f"connection lost: {type(exc).__name__} {exc}"
        finally:
            self.closed.set()

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send_binary(encode(message))

    def close(self, wait: float = 5.0) -> None:
        """Close cleanly: our close frame, the server's answer (read by the receiver), then the
        TCP socket. A socket the server already closed is only shut down."""
        if not self.closed.is_set():
            with suppress(websocket.WebSocketException, OSError):
                self.ws.send_close(CloseCode.NORMAL)
            self.closed.wait(wait)
        self.receiver.kill(block=False)
        self.ws.shutdown()

    def describe_close(self) -> str:
        if self.close_code is not None:
            return f"closed by the server with {self.close_code}"
        return self.reason or "closed"


class Player:
    """One account: token, lobby socket, match sockets; every step reported to Locust."""

    def __init__(self, user: GameUser) -> None:
        self.user = user
        self.env = user.environment
        self.options = user.options
        servers = [u.strip().rstrip("/") for u in (self.options.servers or "").split(",") if u.strip()]
        servers = servers or [(user.host or "").rstrip("/")]
        self.base = servers[next(_server_index) % len(servers)]
        self.ws_base = "ws" + self.base.removeprefix("http")
        self.token = ""
        self.id = 0
        self.lobby: Socket | None = None
        self.inbox: Queue[dict[str, Any]] = Queue()
        self.tolerated: set[tuple[str, str]] = set()  # (re, code) lobby errors a step expects
        self.ratings: Queue[dict[str, Any]] = Queue()
        self.ready_at = 0.0

    # --- reporting -----------------------------------------------------------------------
    def report(self, kind: str, name: str, ms: float, length: int = 0) -> None:
        self.env.events.request.fire(
            request_type=kind, name=name, response_time=ms, response_length=length, exception=None, context={}
        )

    def fail(self, kind: str, name: str, reason: str, ms: float = 0.0) -> StepFailed:
        """Report a failure (unless the test is stopping) and return the exception to raise."""
        if not _stopping:
            self.env.events.request.fire(
                request_type=kind,
                name=name,
                response_time=ms,
                response_length=0,
                exception=Failure(reason),
                context={},
            )
        return StepFailed(reason)

    # --- HTTP ------------------------------------------------------------------------------
    def sign_in(self) -> None:
        name = "lt-" + secrets.token_hex(5)
        with self.user.client.post(
            self.base + "/api/auth/token/", json={"guest": name}, name=TOKEN, catch_response=True
        ) as response:
            if response.status_code != 201:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                raise StepFailed("token")
            body = response.json()
            self.token, self.id = body["token"], body["player"]["id"]

    def sign_out(self) -> None:
        """Revoke the token. While the test stops, every user does it at once: that burst is
        the test ending, so it is done without a Locust entry."""
        if not self.token:
            return
        if _stopping:
            request = urllib.request.Request(
                self.base + "/api/auth/logout/",
                headers={"Authorization": f"Bearer {self.token}"},
                method="POST",
            )
            with suppress(OSError), urllib.request.urlopen(request, timeout=10):
                pass
            self.token = ""
            return
        with self.user.client.post(
            self.base + "/api/auth/logout/",
            headers={"Authorization": f"Bearer {self.token}"},
            name=LOGOUT,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
        self.token = ""

    # --- lobby -----------------------------------------------------------------------------
    def open_lobby(self) -> None:
        started = now_ms()
        try:
            self.lobby = Socket(self.ws_base + "/ws/lobby/", self.base, self.token, self._lobby_message)
        except (websocket.WebSocketException, OSError) as exc:
            raise self.fail(LOBBY, LOBBY_CONNECT, f"handshake: {type(exc).__name__} {exc}") from None
        self.expect(lp.WELCOME, step=LOBBY_CONNECT)
        self.report(LOBBY, LOBBY_CONNECT, now_ms() - started)

    def _lobby_message(self, message: dict[str, Any], _size: int) -> None:
        kind = message["t"]
        if kind in (lp.PRESENCE, lp.ROOM_LISTED):
            return  # broadcasts: seen, nothing to check
        if kind == lp.CHAT and message["from"]["id"] != self.id:
            return
        if kind == lp.RATING:
            self.ratings.put(message)
            return
        if kind == ERROR and (message.get("re", ""), message["code"]) not in self.tolerated:
            self.fail(LOBBY, LOBBY_SOCKET, f"error {message['code']} ({message.get('re', '-')})")
        self.inbox.put(message)

    def send(self, message: dict[str, Any]) -> None:
        assert self.lobby is not None
        try:
            self.lobby.send(message)
        except (websocket.WebSocketException, OSError) as exc:
            raise self.fail(LOBBY, LOBBY_SOCKET, f"send: {type(exc).__name__} {exc}") from None

    def expect(
        self,
        kinds: str | tuple[str, ...],
        *,
        step: str,
        timeout: float = WAIT_TIMEOUT,
        where: Callable[[dict[str, Any]], bool] = lambda _m: True,
        on_other: Callable[[dict[str, Any]], None] | None = None,
        report_timeout: bool = True,
    ) -> dict[str, Any]:
        """The next lobby message of ``kinds`` that passes ``where``; others go to ``on_other``.
        An error message (reported by the receiver) or a closed socket fails the step, unless
        it is tolerated and ``kinds`` has ERROR (then it is the answer); so does the timeout,
        unless ``report_timeout`` is off (then TimedOut, unreported)."""
        assert self.lobby is not None
        kinds = (kinds,) if isinstance(kinds, str) else kinds
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                wanted = " or ".join(kinds)
                if not report_timeout:
                    raise TimedOut(wanted)
                raise self.fail(LOBBY, step, f"no {wanted} within {timeout:.0f} s", timeout * 1000)
            try:
                message = self.inbox.get(timeout=min(left, 1.0))
            except Empty:
                if self.lobby.closed.is_set():
                    raise self.fail(LOBBY, LOBBY_SOCKET, self.lobby.describe_close()) from None
                continue
            if message["t"] in kinds and where(message):
                return message
            if message["t"] == ERROR and (message.get("re", ""), message["code"]) not in self.tolerated:
                raise StepFailed(message["code"])  # already reported by the receiver
            if on_other is not None:
                on_other(message)

    def leave(self) -> None:
        if self.lobby is not None:
            self.lobby.close()
            self.lobby = None
        self.sign_out()

    # --- queue and ready check ---------------------------------------------------------------
    def await_match(self, mode: str, queued_at: float) -> dict[str, Any] | None:
        """From a queue_join to match_ready: the wait, the ready check (accepted at once), the
        ticket. None: gave up on a queue too small to ever match (not a failure)."""
        timeout = self.options.matchmaking_timeout
        size = 0

        def note(message: dict[str, Any]) -> None:
            nonlocal size
            if message["t"] == lp.QUEUE and message["mode"] == mode:
                size = message["size"]

        while True:
            try:
                found = self.expect(
                    lp.MATCH_FOUND, step=MATCHMAKING_WAIT, timeout=timeout - (time.monotonic() - queued_at),
                    on_other=note, report_timeout=False,
                )  # fmt: skip
            except TimedOut:
                if size < MODE_NEEDS[mode]:
                    return None  # too few in this queue for any match: not the server's fault
                raise self.fail(
                    LOBBY,
                    MATCHMAKING_WAIT,
                    f"no match_found in {timeout:.0f} s with {size} queued for {mode}",
                ) from None
            self.report(LOBBY, MATCHMAKING_WAIT, (time.monotonic() - queued_at) * 1000)
            self.ready_at = now_ms()
            self.send({"t": lp.READY, "check": found["check"], "accept": True})

            def settled(message: dict[str, Any], check: int = found["check"]) -> bool:
                return message["t"] == lp.MATCH_READY or (
                    message["t"] == lp.MATCH_CANCELLED and message["check"] == check
                )

            outcome = self.expect((lp.MATCH_READY, lp.MATCH_CANCELLED), step=READY_TO_START, where=settled)
            if outcome["t"] == lp.MATCH_READY:
                return outcome
            # Someone else declined, left or never answered: we are requeued keeping our place.
            # Dropped although we accepted: our accept never counted.
            if not outcome["requeued"]:
                raise self.fail(
                    LOBBY, READY_TO_START, f"ready check cancelled ({outcome['reason']}) after accepting"
                )

    def leave_queue(self) -> None:
        """Give up on a queue: leave it and wait for the answer (``queue`` with no mode, or
        ``not_queued`` if a match or the server took us out first)."""
        with self.tolerating((lp.QUEUE_LEAVE, "not_queued")):
            self.send({"t": lp.QUEUE_LEAVE})
            self.expect((lp.QUEUE, ERROR), step=MATCHMAKING_WAIT, where=left_queue)

    def room_request(
        self, message: dict[str, Any], step: str, answered: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """Create or join a room: its ``room``. Right after a match the result may not be
        recorded yet, so ``in_match`` is tolerated and the request sent again, for up to 10 s."""
        with self.tolerating((message["t"], "in_match")):
            for _attempt in range(20):
                self.send(message)
                answer = self.expect((lp.ROOM, ERROR), step=step, where=answered)
                if answer["t"] == lp.ROOM:
                    return answer
                gevent.sleep(0.5)
        raise self.fail(LOBBY, step, "still in_match 10 s after the match")

    # --- the match -------------------------------------------------------------------------
    def play(self, ready: dict[str, Any]) -> float:
        """Join with the ticket, send inputs until the end; returns when ``end`` arrived (ms)."""
        match = MatchStream(self, ready["seat"])
        url = f"{self.ws_base}{ready['ws_path']}?ticket={quote(ready['ticket'], safe='')}"
        started = now_ms()
        try:
            sock = Socket(url, self.base, self.token, match.handle)
        except (websocket.WebSocketException, OSError) as exc:
            raise self.fail(MATCH, MATCH_JOIN, f"handshake: {type(exc).__name__} {exc}") from None
        match.socket = sock
        try:
            synced = match.synced.wait(WAIT_TIMEOUT)
            if match.fatal:
                raise StepFailed(match.fatal)  # reported where it was seen
            if not synced:
                reason = sock.describe_close() if sock.closed.is_set() else "no snapshot"
                raise self.fail(MATCH, MATCH_JOIN, reason, now_ms() - started)
            self.report(MATCH, MATCH_JOIN, now_ms() - started)
            match.send_inputs(self.options.input_hz)
            if match.fatal:
                raise StepFailed(match.fatal)
            if not match.ended_at:
                raise self.fail(MATCH, MATCH_SOCKET, f"{sock.describe_close()} before end")
            sock.closed.wait(WAIT_TIMEOUT)  # the server closes 1000 right after end
            if sock.close_code not in (None, CloseCode.NORMAL):
                raise self.fail(MATCH, MATCH_SOCKET, f"after end: {sock.describe_close()}")
            return match.ended_at
        finally:
            sock.close()

    def back_to_lobby(self, match_id: str, ended_at: float, rated: bool) -> None:
        """A rated match is over for the lobby when the rating arrives (the result is recorded
        and the player is free to queue again)."""
        if not rated:
            return
        deadline = time.monotonic() + WAIT_TIMEOUT
        while True:
            try:
                rating = self.ratings.get(timeout=max(0.0, deadline - time.monotonic()))
            except Empty:
                raise self.fail(LOBBY, BACK_TO_LOBBY, f"no rating within {WAIT_TIMEOUT:.0f} s") from None
            if rating["match"] == match_id:
                self.report(LOBBY, BACK_TO_LOBBY, now_ms() - ended_at)
                return

    @contextmanager
    def tolerating(self, *pairs: tuple[str, str]) -> Iterator[None]:
        self.tolerated.update(pairs)
        try:
            yield
        finally:
            self.tolerated.difference_update(pairs)


class MatchStream:
    """What one seat sees of a match: checks every frame, measures latency and frame rate."""

    def __init__(self, player: Player, seat: int) -> None:
        self.player = player
        self.seat = seat
        self.socket: Socket | None = None
        self.synced = Event()
        self.over = Event()
        self.tick = -1
        self.players: dict[int, dict[str, Any]] = {}
        self.sent: dict[int, float] = {}  # seq -> ms, until acknowledged or overtaken
        self.seq = 0
        self.acked = 0
        self.acks_seen = 0
        self.sample = max(1, player.options.latency_sample)
        self.running_at = 0.0
        self.window_start = 0.0
        self.window_frames = 0
        self.window_bytes = 0
        self.ended_at = 0.0
        self.fatal = ""  # an error message or an aborted match: this seat's match is over

    def handle(self, message: dict[str, Any], size: int) -> None:
        try:
            self.dispatch(message, size)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            self.problem(MATCH_SOCKET, f"unreadable {message.get('t')!r} message: {exc!r}", fatal=True)
            self.over.set()

    def dispatch(self, message: dict[str, Any], size: int) -> None:
        kind = message["t"]
        if kind == FRAME:
            self.on_frame(message, size)
        elif kind == SNAPSHOT:
            # Another snapshot replaces the state (a join answered twice is harmless); one past
            # the next tick is a resync: the server dropped frames on their way to us.
            if self.synced.is_set() and message["tick"] > self.tick + 1:
                log.debug("resync at tick %d after tick %d", message["tick"], self.tick)
                self.problem(
                    FRAME_GAPS, "resync: the server dropped frames to this player and sent a snapshot"
                )
            self.tick = message["tick"]
            self.players = {p["s"]: dict(p) for p in message["state"]["players"]}
            self.acked = max(self.acked, message["acks"][self.seat])
            if message["phase"] == PHASE_RUNNING:
                self.started()
            self.synced.set()
        elif kind == PHASE:
            if message["phase"] == PHASE_RUNNING:
                self.started()
        elif kind == END:
            self.close_window(time.perf_counter() * 1000)
            self.ended_at = now_ms()
            aborted = message["result"].get("reason") == "aborted"
            if self.running_at and not aborted:
                self.player.report(MATCH, MATCH_DURATION, self.ended_at - self.running_at)
            if aborted:
                lasted = self.ended_at - self.running_at if self.running_at else 0.0
                self.problem(MATCH_DURATION, "the match was aborted", fatal=True, ms=lasted)
            self.over.set()
        elif kind == ERROR:
            self.problem(MATCH_SOCKET, f"error {message['code']}: {message.get('detail', '')}", fatal=True)
            self.over.set()

    def started(self) -> None:
        if not self.running_at:
            self.running_at = self.window_start = now_ms()
            if self.player.ready_at:
                self.player.report(LOBBY, READY_TO_START, self.running_at - self.player.ready_at)

    def on_frame(self, message: dict[str, Any], size: int) -> None:
        tick = message["tick"]
        if tick != self.tick + 1:
            log.debug("tick gap: expected %d, got %d", self.tick + 1, tick)
            self.problem(FRAME_GAPS, "tick gap: a frame missing or out of order")
        self.tick = tick
        for change in message["d"].get("p", ()):
            seat = change["s"]
            if seat in self.players:
                self.players[seat].update(change)
        at = now_ms()
        ack = message["acks"][self.seat]
        if ack > self.acked:
            self.acked = ack
            sent = self.sent.pop(ack, None)
            for seq in [s for s in self.sent if s < ack]:  # overtaken within one tick: never applied
                del self.sent[seq]
            if sent is not None:
                self.acks_seen += 1
                if self.acks_seen % self.sample == 0:
                    self.player.report(MATCH, INPUT_TO_STATE, at - sent)
        if not self.running_at:
            self.started()
        self.window_frames += 1
        self.window_bytes += size
        if at - self.window_start >= 1000.0:
            self.close_window(at)

    def close_window(self, at: float) -> None:
        """One entry per player-second: 'response time' is the frame rate over that second."""
        elapsed = at - self.window_start
        if self.running_at and self.window_frames and elapsed >= 500.0:
            self.player.report(
                MATCH, FRAMES_PER_SECOND, self.window_frames * 1000.0 / elapsed, self.window_bytes
            )
        self.window_start, self.window_frames, self.window_bytes = at, 0, 0

    def problem(self, step: str, reason: str, fatal: bool = False, ms: float = 0.0) -> None:
        """Report; a gap lets play go on, a fatal problem ends this seat's match."""
        if fatal and not self.fatal:
            self.fatal = reason
        self.player.fail(MATCH, step, reason, ms)

    def steer(self) -> dict[str, Any]:
        """Strafe, aim at the nearest living enemy, hold the trigger."""
        me = self.players.get(self.seat)
        aim = 0
        if me is not None:
            enemies = [
                p for s, p in self.players.items() if s != self.seat and p.get("al", True)
                and ("tm" not in me or p.get("tm") != me["tm"])
            ]  # fmt: skip
            if enemies:
                target = min(enemies, key=lambda p: (p["x"] - me["x"]) ** 2 + (p["y"] - me["y"]) ** 2)
                angle = math.atan2(target["y"] - me["y"], target["x"] - me["x"])
                aim = round(angle / (2 * math.pi) * 4096) & 4095
        strafe = 1 if (self.seq // 20) % 2 == 0 else -1
        self.seq += 1
        return {"t": INPUT, "seq": self.seq, "mx": strafe, "my": -strafe, "aim": aim, "fire": True}

    def send_inputs(self, hz: float) -> None:
        """Inputs at ``hz`` on average until the match ends or the socket goes. Each interval is
        drawn from 0.75..1.25 of 1/hz: a strict schedule would lock every player to one phase of
        the server's tick, and input-to-state would measure that phase instead of the server."""
        assert self.socket is not None
        interval = 1.0 / hz
        due = time.monotonic() + random.uniform(0.0, interval)
        while not self.over.is_set() and not self.socket.closed.is_set():
            message = self.steer()
            self.sent[message["seq"]] = now_ms()
            try:
                self.socket.send(message)
            except (websocket.WebSocketException, OSError):
                break  # the receiver reports why
            due += interval * random.uniform(0.75, 1.25)
            delay = due - time.monotonic()
            if delay < -1.0:  # we fell a second behind (an overloaded load generator): skip ahead
                due = time.monotonic()
            self.over.wait(max(0.0, delay))


class GameUser(HttpUser):
    """Base of every class here: no HTTP pacing of its own (the journey paces itself)."""

    abstract = True
    wait_time = between(0.5, 2.0)

    @property
    def options(self) -> Any:
        """Locust's parsed options, the locustfile's own included."""
        assert self.environment.parsed_options is not None
        return self.environment.parsed_options

    def session(self, work: Callable[[list[Player]], None], players: int = 1) -> None:
        """Sign ``players`` in, run ``work``, then always close their sockets and sign out."""
        crew = [Player(self) for _ in range(players)]
        try:
            for player in crew:
                player.sign_in()
                player.open_lobby()
            work(crew)
        except StepFailed:
            gevent.sleep(1.0)
        finally:
            for player in crew:
                player.leave()


def together(*jobs: Callable[[], Any]) -> list[Any]:
    """Run jobs in greenlets at once; a StepFailed in any is raised once all have finished."""
    greenlets = [gevent.spawn(job) for job in jobs]
    gevent.joinall(greenlets)
    for greenlet in greenlets:
        if isinstance(greenlet.exception, StepFailed):
            raise greenlet.exception
        if greenlet.exception is not None:
            raise greenlet.exception
    return [greenlet.value for greenlet in greenlets]


def play_all(crew: list[Player], readies: list[dict[str, Any]], rated: bool) -> None:
    def one(player: Player, ready: dict[str, Any]) -> None:
        ended_at = player.play(ready)
        player.back_to_lobby(ready["match"], ended_at, rated)

    together(*[partial(one, p, r) for p, r in zip(crew, readies, strict=True)])


def left_queue(message: dict[str, Any]) -> bool:
    return message["t"] == ERROR or message.get("mode") == ""


def in_a_room(message: dict[str, Any]) -> bool:
    return message["t"] == ERROR or bool(message.get("code"))


def room_answer(code: str, message: dict[str, Any]) -> bool:
    return message["t"] == ERROR or message.get("code") == code


class MatchPlayer(GameUser):
    """A player who queues, plays and comes back, ``--matches-per-session`` times per sign-in."""

    weight = 12

    @task
    def journey(self) -> None:
        pick = weighted(self.options.mode_weights)

        def work(crew: list[Player]) -> None:
            (player,) = crew
            for _ in range(player.options.matches_per_session):
                ready = None
                while ready is None:
                    mode = pick()
                    queued_at = time.monotonic()
                    player.send({"t": lp.QUEUE_JOIN, "mode": mode})
                    ready = player.await_match(mode, queued_at)
                    if ready is None:
                        player.leave_queue()
                play_all(crew, [ready], rated=True)

        self.session(work)


class PartyPlayers(GameUser):
    """A party: the leader invites the others, they accept, the leader queues them together."""

    weight = 2

    @task
    def party(self) -> None:
        options = self.options

        def work(crew: list[Player]) -> None:
            leader, *members = crew
            invited = now_ms()
            for member in members:
                leader.send({"t": lp.PARTY_INVITE, "player": member.id})
            invitations = together(*[partial(m.expect, lp.PARTY_INVITED, step=PARTY_INVITE) for m in members])
            for member, invitation in zip(members, invitations, strict=True):
                member.report(LOBBY, PARTY_INVITE, now_ms() - invited)
                accepted = now_ms()
                member.send({"t": lp.PARTY_ACCEPT, "party": invitation["party"]})
                member.expect(lp.PARTY, step=PARTY_ACCEPT, where=lambda m: len(m["members"]) > 1)
                member.report(LOBBY, PARTY_ACCEPT, now_ms() - accepted)
            leader.expect(lp.PARTY, step=PARTY_ACCEPT, where=lambda m: len(m["members"]) == len(crew))
            for _ in range(options.matches_per_session):
                queued_at = time.monotonic()
                leader.send({"t": lp.QUEUE_JOIN, "mode": options.party_mode})
                readies = together(*[partial(p.await_match, options.party_mode, queued_at) for p in crew])
                if any(r is None for r in readies):
                    leader.leave_queue()
                    return
                play_all(crew, readies, rated=True)

        self.session(work, players=max(2, options.party_size))


class RoomPlayers(GameUser):
    """A private room: the host creates it with a password, the others join by code, the host
    starts it; room matches are unrated, so nobody waits for a rating."""

    weight = 2

    @task
    def room(self) -> None:
        options = self.options
        size = max(2, options.room_size)

        def work(crew: list[Player]) -> None:
            host, *joiners = crew
            for _ in range(options.matches_per_session):
                password = secrets.token_urlsafe(6)
                created = now_ms()
                create = {"t": lp.ROOM_CREATE, "mode": options.room_mode, "max": size, "public": False}
                room = host.room_request({**create, "password": password}, ROOM_CREATE, in_a_room)
                host.report(LOBBY, ROOM_CREATE, now_ms() - created)
                for joiner in joiners:
                    joined = now_ms()
                    join = {"t": lp.ROOM_JOIN, "code": room["code"], "password": password}
                    joiner.room_request(join, ROOM_JOIN, partial(room_answer, room["code"]))
                    joiner.report(LOBBY, ROOM_JOIN, now_ms() - joined)
                host.expect(lp.ROOM, step=ROOM_JOIN, where=lambda m: len(m.get("members", ())) == size)
                start = now_ms()
                host.send({"t": lp.ROOM_START})
                for player in crew:
                    player.ready_at = start
                readies = together(*[partial(p.expect, lp.MATCH_READY, step=ROOM_START) for p in crew])
                host.report(LOBBY, ROOM_START, now_ms() - start)
                play_all(crew, readies, rated=False)

        self.session(work, players=size)


class LobbyIdler(GameUser):
    """Someone who only hangs out: sees presence, chats now and then, pings, leaves, returns."""

    weight = 2

    @task
    def idle(self) -> None:
        options = self.options

        def work(crew: list[Player]) -> None:
            (player,) = crew
            until = time.monotonic() + options.idle_session * random.uniform(0.5, 1.5)
            ping_id = 0
            while time.monotonic() < until:
                gevent.sleep(options.chat_interval * random.uniform(0.5, 1.5))
                text = f"gg {secrets.token_hex(4)}"
                sent = now_ms()
                player.send({"t": lp.CHAT, "text": text})
                player.expect(lp.CHAT, step=CHAT, where=field_is("text", text))
                player.report(LOBBY, CHAT, now_ms() - sent)
                ping_id += 1
                sent = now_ms()
                player.send({"t": PING, "id": ping_id})
                player.expect(PONG, step=LOBBY_PING, where=field_is("id", ping_id))
                player.report(LOBBY, LOBBY_PING, now_ms() - sent)

        self.session(work)
