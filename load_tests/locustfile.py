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

A socket that drops is resumed as a client should (``FAULT_STEPS``): a match seat with the
credential its ``seat`` message gave, within the seat's grace period, from a fresh snapshot;
the lobby socket by reconnecting, its state restated by the server after ``welcome``. Both
with backoff (0.25 s doubling to 4 s); HTTP calls are retried on a connection error.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import secrets
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import gevent
import msgpack
import requests
import websocket
from gevent.event import Event
from gevent.greenlet import Greenlet
from gevent.queue import Empty, Queue
from locust import HttpUser, between, events, task
from locust.env import Environment
from locust.runners import WorkerRunner
from urllib3.util.retry import Retry

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
    SEAT,
    SNAPSHOT,
    CloseCode,
    ErrorCode,
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
    LOBBY_RESUME,
    LOBBY_SOCKET,
    LOGOUT,
    MATCH,
    MATCH_DURATION,
    MATCH_JOIN,
    MATCH_OVER_AWAY,
    MATCH_RESUME,
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

WAIT_TIMEOUT = 30.0  # seconds for any answer the server owes at once (welcome, party, room, ...)
RECV_TIMEOUT = 60.0  # a socket with nothing for this long is dead (the server pings every 20 s)
BACKOFF_FIRST, BACKOFF_MAX = 0.25, 4.0  # seconds between reconnection attempts: doubling, capped
# A resumed lobby restates its state after ``welcome``: party, invites, queue, ready check, then
# always ``room``, then ``match_ready`` if in a match. Nothing else of it this long after ``room``:
# the state is complete.
STATE_SETTLE = 1.0
# Closes after which a match seat is not worth another try: refused, taken, over, or our fault.
MATCH_FINAL_CLOSES = frozenset(
    {
        CloseCode.PROTOCOL,
        CloseCode.UNAUTHORIZED,
        CloseCode.FORBIDDEN,
        CloseCode.NOT_FOUND,
        CloseCode.REPLACED,
        CloseCode.GONE,
        CloseCode.FLOOD,
    }
)
LOBBY_FINAL_CLOSES = frozenset(
    {CloseCode.PROTOCOL, CloseCode.UNAUTHORIZED, CloseCode.FORBIDDEN, CloseCode.FLOOD}
)
# Errors the server sends just before it closes a socket: the close decides what follows (a
# resume, or a failure named after the error).
CLOSING_ERRORS = frozenset(
    str(code)
    for code in (
        ErrorCode.TICKET_INVALID,
        ErrorCode.TICKET_EXPIRED,
        ErrorCode.WRONG_MATCH,
        ErrorCode.WRONG_PLAYER,
        ErrorCode.NO_SUCH_MATCH,
        ErrorCode.MATCH_OVER,
        ErrorCode.REPLACED,
        ErrorCode.SEAT_TAKEN,
        ErrorCode.RESUME_INVALID,
        ErrorCode.UNAVAILABLE,
        ErrorCode.SHUTTING_DOWN,
    )
)
LOBBY_NOTICES = frozenset({str(ErrorCode.SHUTTING_DOWN)})  # before a close that is resumed
# Inbox markers of a lobby resume, never sent by the server: the new socket's welcome came
# (``gap``: seconds since the drop), and its restated state is complete (``view``: the last
# message of each type in it).
RESUMED = "_resumed"
STATE_END = "_state_end"
_server_index = itertools.count()
_stopping = False


def http_retry() -> Retry:
    """Connection errors (a cut, a restarting server) retried with backoff, any method: a
    guest token asked twice makes one more guest; a logout asked twice is still 200."""
    return Retry(
        total=4, connect=4, read=2, status=0, other=0, backoff_factor=0.25,
        allowed_methods=None, raise_on_status=False,
    )  # fmt: skip


# HTTP the journey needs but does not measure (a result looked up, sign-outs while stopping).
_quiet = requests.Session()
for _scheme in ("http://", "https://"):
    _quiet.mount(_scheme, requests.adapters.HTTPAdapter(max_retries=http_retry(), pool_maxsize=100))


def backoff() -> Iterator[float]:
    """Waits between reconnection attempts: 0.25 s doubling to 4 s, each drawn from 0.8..1.2
    of that (so players cut at once do not come back in lockstep)."""
    delay = BACKOFF_FIRST
    while True:
        yield delay * random.uniform(0.8, 1.2)
        delay = min(delay * 2, BACKOFF_MAX)


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
    # Modes are the server's (GAME_MODES, listed in its welcome); one it lacks fails its requests.
    group.add_argument("--party-mode", default=lp.TEAM, help="what parties queue for")
    group.add_argument(
        "--room-size", type=int, default=4, help="players per RoomPlayers user (host included)"
    )
    group.add_argument("--room-mode", default=lp.FFA, help="what private rooms play")
    group.add_argument("--idle-session", type=float, default=60.0, help="seconds a LobbyIdler stays")
    group.add_argument("--chat-interval", type=float, default=10.0, help="seconds between an idler's lines")
    group.add_argument(
        "--heartbeat",
        type=float,
        default=5.0,
        help="seconds between a socket's pings; silent for three of them, it is dead (0: none)",
    )
    group.add_argument(
        "--lobby-grace",
        type=float,
        default=20.0,
        help="seconds to get a dropped lobby socket back (the server's LOBBY_RECONNECT_GRACE)",
    )
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
    """``duel:4,team:3`` -> a function drawing a mode with those weights (modes the server lacks
    are refused by it: every queue_join for one fails)."""
    modes, weights = [], []
    for part in spec.split(","):
        mode, _, weight = part.partition(":")
        if not mode.strip():
            raise ValueError(f"--mode-weights: a mode name is missing in {spec!r}")
        modes.append(mode.strip())
        weights.append(float(weight or 1))
    return lambda: random.choices(modes, weights)[0]


class Socket:
    """One WebSocket and the greenlet that reads it; ``handle`` gets every decoded message.

    With a ``heartbeat`` (seconds), a second greenlet pings the server that often, and a socket
    that has heard nothing (pongs included) for three heartbeats is shut down as dead: a path
    that died without a reset (a half-open connection) is found only by sending on it."""

    def __init__(
        self,
        url: str,
        origin: str,
        token: str,
        handle: Callable[[dict[str, Any], int], None],
        heartbeat: float = 0.0,
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
        self.heard = time.monotonic()
        self.receiver = gevent.spawn(self._receive)
        self.beater = gevent.spawn(self._beat, heartbeat) if heartbeat > 0 else None

    def _beat(self, interval: float) -> None:
        while not self.closed.wait(interval):
            silent = time.monotonic() - self.heard
            if silent > 3 * interval:
                self.reason = self.reason or f"nothing heard for {silent:.0f} s (heartbeat)"
                with suppress(OSError):
                    self.ws.shutdown()  # the receiver ends
                return
            with suppress(websocket.WebSocketException, OSError):
                self.ws.ping()

    def _receive(self) -> None:
        try:
            while True:
                opcode, data = self.ws.recv_data(control_frame=True)  # pings are answered inside
                self.heard = time.monotonic()
                if opcode in (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG):
                    continue
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self.server_closed = True
                    self.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
                    return
                if opcode != websocket.ABNF.OPCODE_BINARY:
                    self.reason = f"unexpected frame opcode {opcode}"
                    return
                self.handle(msgpack.unpackb(data), len(data))
        except websocket.WebSocketTimeoutException:
            self.reason = self.reason or f"nothing received for {RECV_TIMEOUT:.0f} s"
        except (websocket.WebSocketException, OSError) as exc:
            self.reason = self.reason or f"connection lost: {type(exc).__name__} {exc}"
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
        if self.beater is not None:
            self.beater.kill(block=False)
        self.ws.shutdown()

    def describe_close(self) -> str:
        if self.close_code is not None:
            return f"closed by the server with {self.close_code}"
        return self.reason or "closed"


class LobbyLink:
    """One lobby connection: its socket, its welcome and, when it resumes a dropped one, the
    state the server restates after the welcome (collected into ``view`` until complete)."""

    def __init__(self, seq: int, dropped: float) -> None:
        self.seq = seq  # 0: a session's first connection; n: its nth resume
        self.dropped = dropped  # when the connection it replaces dropped (time.monotonic)
        self.socket: Socket | None = None
        self.welcomed = Event()
        self.collecting = False
        self.room_seen = False
        self.view: dict[str, dict[str, Any]] = {}


class Dialled(NamedTuple):
    """How one connection attempt went: ``reason`` is empty on success; ``final`` says another
    attempt would be refused the same way; ``code`` is the server's close code, if it sent one."""

    reason: str
    final: bool = False
    code: int | None = None


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
        self.dialing: Socket | None = None  # the lobby socket being opened, until welcomed or not
        self.lobby_up = Event()  # set while self.lobby is a live, welcomed socket
        self.lobby_dead = ""  # why the lobby socket is gone for good (reported)
        self.leaving = False
        self.keeper: Greenlet | None = None
        self.resumes = 0  # lobby resumes so far
        self.last_view: tuple[int, dict[str, dict[str, Any]]] | None = None  # of the latest resume
        self.inbox: Queue[dict[str, Any]] = Queue()
        self.pushback: deque[dict[str, Any]] = deque()  # read before the inbox
        self.tolerated: set[tuple[str, str]] = set()  # (re, code) lobby errors a step expects
        self.ratings: Queue[dict[str, Any]] = Queue()
        self.ready_at = 0.0
        self.played: set[str] = set()  # match ids: a restated match_ready of one is not news

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
            with suppress(requests.RequestException):
                _quiet.post(
                    self.base + "/api/auth/logout/",
                    headers={"Authorization": f"Bearer {self.token}"},
                    timeout=10,
                )
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
        started = time.monotonic()
        link, reason = self._dial_lobby(started + WAIT_TIMEOUT, seq=0, dropped=started)
        if link is None:
            raise self.fail(LOBBY, LOBBY_CONNECT, reason, (time.monotonic() - started) * 1000)
        self.lobby = link.socket
        self.lobby_up.set()
        self.report(LOBBY, LOBBY_CONNECT, (time.monotonic() - started) * 1000)
        self.keeper = gevent.spawn(self._keep_lobby)

    def _dial_lobby(self, deadline: float, *, seq: int, dropped: float) -> tuple[LobbyLink | None, str]:
        """Connect until a socket is welcomed, with backoff, until ``deadline`` (a resume
        waits before its first attempt, a first connection does not)."""
        waits = backoff()
        reason = "stopping"
        if seq:
            gevent.sleep(next(waits))
        while not (self.leaving or _stopping):
            link = LobbyLink(seq, dropped)
            outcome = self._dial_once(link, deadline)
            if not outcome.reason:
                return link, ""
            reason = outcome.reason
            delay = next(waits)
            if outcome.final or time.monotonic() + delay >= deadline:
                break
            gevent.sleep(delay)
        return None, reason

    def _dial_once(self, link: LobbyLink, deadline: float) -> Dialled:
        url = self.ws_base + "/ws/lobby/"
        try:
            link.socket = Socket(
                url, self.base, self.token, partial(self._lobby_message, link), self.options.heartbeat
            )
        except websocket.WebSocketBadStatusException as exc:
            return Dialled(f"handshake refused: {exc.status_code}", final=True)
        except (websocket.WebSocketException, OSError) as exc:
            return Dialled(f"handshake: {type(exc).__name__} {exc}")
        sock = link.socket
        self.dialing = sock
        if self.leaving:  # left while this socket opened: leave() could not see it
            sock.close(wait=0)
        gevent.wait(
            [link.welcomed, sock.closed],
            count=1,
            timeout=min(WAIT_TIMEOUT, max(1.0, deadline - time.monotonic())),
        )
        if link.welcomed.is_set():
            return Dialled("")
        reason = sock.describe_close() if sock.closed.is_set() else f"no welcome within {WAIT_TIMEOUT:.0f} s"
        final = sock.close_code is not None and sock.close_code in LOBBY_FINAL_CLOSES
        sock.close(wait=1.0)
        return Dialled(reason, final, sock.close_code)

    def _keep_lobby(self) -> None:
        """The lobby socket's keeper: when it drops unexpectedly, connect again (the server
        keeps the player's presence, party, queue, check and room for LOBBY_RECONNECT_GRACE)."""
        while True:
            sock = self.lobby
            assert sock is not None
            sock.closed.wait()
            if self.leaving or _stopping:
                return
            self.lobby_up.clear()
            dropped = time.monotonic()
            why = sock.describe_close()
            final = sock.close_code is not None and sock.close_code in LOBBY_FINAL_CLOSES
            sock.close(wait=0)
            if final:
                self._lobby_lost(LOBBY_SOCKET, why)
                return
            log.debug("player %d: lobby socket %s; resuming", self.id, why)
            grace = self.options.lobby_grace
            link, reason = self._dial_lobby(dropped + grace, seq=self.resumes + 1, dropped=dropped)
            if self.leaving or _stopping:
                return
            if link is None:
                self._lobby_lost(LOBBY_RESUME, f"no lobby resume within {grace:.0f} s ({reason})")
                return
            self.lobby = link.socket
            self.lobby_up.set()
            self.report(LOBBY, LOBBY_RESUME, (time.monotonic() - dropped) * 1000)

    def _lobby_lost(self, step: str, reason: str) -> None:
        self.lobby_dead = reason
        self.fail(LOBBY, step, reason)
        self.lobby_up.set()  # wakes a sender waiting for the socket: it finds the lobby dead

    def _lobby_message(self, link: LobbyLink, message: dict[str, Any], _size: int) -> None:
        if self.leaving:
            return  # what a socket says while its player signs out (signed_out) is no failure
        kind = message["t"]
        if kind == lp.WELCOME:
            if link.seq:
                self.resumes = link.seq
                link.collecting = True
                self.inbox.put({"t": RESUMED, "seq": link.seq, "gap": time.monotonic() - link.dropped})
            link.welcomed.set()
            return
        if kind in (lp.PRESENCE, lp.ROOM_LISTED):
            return  # broadcasts: seen, nothing to check
        if kind == lp.CHAT and message["from"]["id"] != self.id:
            return
        if kind == lp.RATING:
            self.ratings.put(message)
            return
        if kind == ERROR and message["code"] in LOBBY_NOTICES:
            return  # the close that follows is resumed
        if kind == ERROR and (message.get("re", ""), message["code"]) not in self.tolerated:
            self.fail(LOBBY, LOBBY_SOCKET, f"error {message['code']} ({message.get('re', '-')})")
        self.inbox.put(message)
        if link.collecting:
            link.view[kind] = message
            if kind == lp.ROOM and not link.room_seen:
                link.room_seen = True
                gevent.spawn_later(STATE_SETTLE, self._state_end, link)
            elif kind == lp.MATCH_READY and link.room_seen:
                self._state_end(link)

    def _state_end(self, link: LobbyLink) -> None:
        if not link.collecting:
            return
        link.collecting = False
        self.last_view = (link.seq, link.view)
        self.inbox.put({"t": STATE_END, "seq": link.seq, "view": link.view})

    def send(self, message: dict[str, Any]) -> None:
        """Send on the lobby socket; while it is being resumed, once it is back."""
        deadline = time.monotonic() + self.options.lobby_grace + WAIT_TIMEOUT
        while True:
            if self.lobby_dead:
                raise StepFailed(self.lobby_dead)  # reported by the keeper
            sock = self.lobby
            if self.lobby_up.is_set() and sock is not None and not sock.closed.is_set():
                try:
                    sock.send(message)
                    return
                except (websocket.WebSocketException, OSError):
                    pass  # the keeper sees the close and resumes
            left = deadline - time.monotonic()
            if left <= 0:
                raise self.fail(LOBBY, LOBBY_SOCKET, "send: the lobby socket never came back")
            gevent.sleep(0.05)
            self.lobby_up.wait(min(left, 1.0))

    def _next(self, timeout: float) -> dict[str, Any]:
        if self.pushback:
            return self.pushback.popleft()
        return self.inbox.get(timeout=timeout)

    def expect(
        self,
        kinds: str | tuple[str, ...],
        *,
        step: str,
        timeout: float = WAIT_TIMEOUT,
        where: Callable[[dict[str, Any]], bool] = lambda _m: True,
        on_other: Callable[[dict[str, Any]], None] | None = None,
        report_timeout: bool = True,
        on_resume: Callable[[dict[str, dict[str, Any]]], dict[str, Any] | None] | None = None,
    ) -> dict[str, Any]:
        """The next lobby message of ``kinds`` that passes ``where``; others go to ``on_other``.
        An error message (reported by the receiver) or a lost lobby fails the step, unless
        it is tolerated and ``kinds`` has ERROR (then it is the answer); so does the timeout,
        unless ``report_timeout`` is off (then TimedOut, unreported). The time the lobby
        socket spends being resumed does not count.

        A lobby resumed while waiting restates its state (which may be the answer); once it
        is complete, ``on_resume`` gets it (the last message of each type) to send again what
        the drop lost, or to return the answer the state implies."""
        kinds = (kinds,) if isinstance(kinds, str) else kinds
        deadline = time.monotonic() + timeout
        since = self.resumes
        while True:
            left = deadline - time.monotonic()
            if left <= 0 and self.lobby_up.is_set():
                wanted = " or ".join(kinds)
                if not report_timeout:
                    raise TimedOut(wanted)
                raise self.fail(LOBBY, step, f"no {wanted} within {timeout:.0f} s", timeout * 1000)
            try:
                message = self._next(timeout=min(max(left, 0.1), 1.0))
            except Empty:
                if self.lobby_dead:
                    raise StepFailed(self.lobby_dead) from None  # reported by the keeper
                continue
            kind = message["t"]
            if kind == RESUMED:
                deadline += message["gap"] + STATE_SETTLE
                continue
            if kind == STATE_END:
                if on_resume is not None and message["seq"] > since:
                    answer = on_resume(message["view"])
                    if answer is not None:
                        return answer
                continue
            if kind in kinds and where(message):
                return message
            if kind == ERROR and (message.get("re", ""), message["code"]) not in self.tolerated:
                raise StepFailed(message["code"])  # already reported by the receiver
            if on_other is not None:
                on_other(message)

    def leave(self) -> None:
        self.leaving = True
        if self.keeper is not None:
            self.keeper.kill(block=False)
            self.keeper = None
        # A keeper killed while resuming leaves the socket it was dialling: close it too, or
        # it would hear the sign-out.
        for sock in dict.fromkeys((self.lobby, self.dialing)):
            if sock is not None:
                sock.close()
        self.lobby = self.dialing = None
        self.sign_out()

    def fresh_ready(self, message: dict[str, Any]) -> bool:
        """A match_ready for a match not played yet (a resumed lobby restates the current one)."""
        return message["t"] == lp.MATCH_READY and message["match"] not in self.played

    # --- queue and ready check ---------------------------------------------------------------
    def await_match(
        self, mode: str, queued_at: float, requeue: Callable[[], None] | None = None
    ) -> dict[str, Any] | None:
        """From a queue_join to match_ready: the wait, the ready check (accepted at once), the
        ticket. None: gave up on a queue too small to ever match (not a failure). ``requeue``
        sends the queue_join again, if a lobby drop lost it (the party leader's, for a party)."""
        timeout = self.options.matchmaking_timeout
        size, need = 0, 2

        def note(message: dict[str, Any]) -> None:
            nonlocal size, need
            if message["t"] == lp.QUEUE and message["mode"] == mode:
                size, need = message["size"], message["need"]

        def lost_join(view: dict[str, dict[str, Any]]) -> None:
            queue = view.get(lp.QUEUE)
            idle = queue is not None and not queue["mode"]
            busy = lp.MATCH_FOUND in view or (
                lp.MATCH_READY in view and self.fresh_ready(view[lp.MATCH_READY])
            )
            if idle and not busy and requeue is not None:
                log.debug("player %d: the queue_join was lost with the lobby socket; again", self.id)
                requeue()
            return None

        while True:
            try:
                found = self.expect(
                    lp.MATCH_FOUND, step=MATCHMAKING_WAIT, timeout=timeout - (time.monotonic() - queued_at),
                    on_other=note, report_timeout=False, on_resume=lost_join,
                )  # fmt: skip
            except TimedOut:
                if size < need:
                    return None  # too few in this queue for any match: not the server's fault
                raise self.fail(
                    LOBBY,
                    MATCHMAKING_WAIT,
                    f"no match_found in {timeout:.0f} s with {size} queued for {mode}",
                ) from None
            self.report(LOBBY, MATCHMAKING_WAIT, (time.monotonic() - queued_at) * 1000)
            self.ready_at = now_ms()
            check = found["check"]
            accept = {"t": lp.READY, "check": check, "accept": True}
            self.send(accept)

            def settled(message: dict[str, Any], check: int = check) -> bool:
                return self.fresh_ready(message) or (
                    message["t"] == lp.MATCH_CANCELLED and message["check"] == check
                )

            def after_drop(
                view: dict[str, dict[str, Any]], check: int = check, accept: dict[str, Any] = accept
            ) -> dict[str, Any] | None:
                """Still in the check: accept again if the accept was lost. Out of it with no
                match_ready: it was cancelled while the lobby was away."""
                found = view.get(lp.MATCH_FOUND)
                if found is not None and found["check"] == check:
                    update = view.get(lp.READY_UPDATE, {})
                    if update.get("check") == check and self.id not in update.get("accepted", ()):
                        log.debug("player %d: the ready was lost with the lobby socket; again", self.id)
                        self.send(accept)
                    return None
                if found is not None:  # requeued and found again while away: the next check
                    self.pushback.append(found)
                queue = view.get(lp.QUEUE)
                requeued = found is not None or bool(queue and queue["mode"])
                log.debug("player %d: check %d ended while the lobby was away", self.id, check)
                return lp.match_cancelled_message(check=check, reason="unseen", requeued=requeued)

            with self.tolerating((lp.READY, "no_such_check")):
                outcome = self.expect(
                    (lp.MATCH_READY, lp.MATCH_CANCELLED),
                    step=READY_TO_START,
                    where=settled,
                    on_resume=after_drop,
                )
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
        leave = {"t": lp.QUEUE_LEAVE}
        with self.tolerating((lp.QUEUE_LEAVE, "not_queued")):
            self.send(leave)
            self.expect(
                (lp.QUEUE, ERROR), step=MATCHMAKING_WAIT, where=left_queue, on_resume=self.again(leave)
            )

    def again(self, message: dict[str, Any]) -> Callable[[dict[str, dict[str, Any]]], None]:
        """An ``on_resume`` that sends ``message`` again: the state did not answer it, so the
        drop lost it (or its answer)."""

        def send_again(_view: dict[str, dict[str, Any]]) -> None:
            log.debug("player %d: %s lost with the lobby socket; again", self.id, message["t"])
            self.send(message)

        return send_again

    def room_request(
        self, message: dict[str, Any], step: str, answered: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """Create or join a room: its ``room``. Right after a match the result may not be
        recorded yet, so ``in_match`` is tolerated and the request sent again, for up to 10 s."""
        with self.tolerating((message["t"], "in_match")):
            for _attempt in range(20):
                self.send(message)
                answer = self.expect(
                    (lp.ROOM, ERROR), step=step, where=answered, on_resume=self.again(message)
                )
                if answer["t"] == lp.ROOM:
                    return answer
                gevent.sleep(0.5)
        raise self.fail(LOBBY, step, "still in_match 10 s after the match")

    # --- the match -------------------------------------------------------------------------
    def play(self, ready: dict[str, Any]) -> float:
        """Join with the ticket, send inputs until the end, resuming the seat whenever its
        socket drops; returns when ``end`` arrived, or the match was found over (ms)."""
        match = MatchStream(self, ready["seat"])
        self.played.add(ready["match"])
        path = f"{self.ws_base}{ready['ws_path']}"
        ticket_url = f"{path}?ticket={quote(ready['ticket'], safe='')}"
        try:
            self.join_match(match, ticket_url, path)
            while True:
                match.send_inputs(self.options.input_hz)
                if match.socket is not None and not match.over.is_set():
                    # A write failed (the server dropped the TCP after its close frame): what
                    # arrived before the drop, ``end`` perhaps, is still to be read.
                    match.socket.closed.wait(WAIT_TIMEOUT)
                if match.fatal:
                    raise StepFailed(match.fatal)  # reported where it was seen
                if match.ended_at:
                    break
                if not self.resume_match(match, path, ready["match"]):
                    return match.ended_at  # it ended while the seat was away
            sock = match.socket
            assert sock is not None
            sock.closed.wait(WAIT_TIMEOUT)  # the server closes 1000 right after end
            if sock.close_code not in (None, CloseCode.NORMAL):
                raise self.fail(MATCH, MATCH_SOCKET, f"after end: {sock.describe_close()}")
            return match.ended_at
        finally:
            if match.socket is not None:
                match.socket.close()

    def join_match(self, match: MatchStream, ticket_url: str, path: str) -> None:
        """The seat's first connection, until its first snapshot: with the ticket, and once
        the seat message gave a credential (a drop before the snapshot), with that."""
        started = time.monotonic()
        deadline = started + WAIT_TIMEOUT
        waits = backoff()
        while True:
            url = f"{path}?resume={quote(match.credential, safe='')}" if match.credential else ticket_url
            outcome = self.dial_match(match, url, deadline)
            if match.fatal:
                raise StepFailed(match.fatal)  # reported where it was seen
            if not outcome.reason:
                self.report(MATCH, MATCH_JOIN, (time.monotonic() - started) * 1000)
                return
            delay = next(waits)
            if outcome.final or _stopping or time.monotonic() + delay >= deadline:
                raise self.fail(MATCH, MATCH_JOIN, outcome.reason, (time.monotonic() - started) * 1000)
            gevent.sleep(delay)

    def resume_match(self, match: MatchStream, path: str, match_id: str) -> bool:
        """The seat's socket closed before ``end``: get the seat back with its credential,
        with backoff, within its grace period. True: play on from the resumed snapshot; False:
        the match ended while away. A close that says not to come back fails the match."""
        dropped = time.monotonic()
        last_tick = match.tick
        old = match.socket
        assert old is not None
        why = f"error {match.close_error}" if match.close_error else old.describe_close()
        code = old.close_code
        old.close(wait=0)
        if _stopping:
            raise StepFailed("stopping")
        if code is not None and code in MATCH_FINAL_CLOSES:
            raise self.fail(MATCH, MATCH_SOCKET, f"{why} before end")
        log.debug("player %d, seat %d: %s at tick %d; resuming", self.id, match.seat, why, last_tick)
        match.begin_resume()
        url = f"{path}?resume={quote(match.credential, safe='')}"
        deadline = dropped + match.grace
        waits = backoff()

        def took() -> float:
            return (time.monotonic() - dropped) * 1000

        while True:
            delay = next(waits)
            if time.monotonic() + delay >= deadline:
                raise self.fail(MATCH, MATCH_RESUME, f"no resume within {match.grace:.0f} s ({why})", took())
            gevent.sleep(delay)
            if _stopping:
                raise StepFailed("stopping")
            outcome = self.dial_match(match, url, deadline)
            if match.fatal:
                raise StepFailed(match.fatal)  # reported where it was seen
            if not outcome.reason:
                if match.forfeited:
                    raise self.fail(MATCH, MATCH_RESUME, "forfeited before the resume", took())
                skipped = max(0, match.tick - last_tick)
                log.debug(
                    "player %d, seat %d: resumed at tick %d (%d skipped)",
                    self.id,
                    match.seat,
                    match.tick,
                    skipped,
                )
                self.report(MATCH, MATCH_RESUME, took(), skipped)
                return True
            if outcome.code == CloseCode.GONE:
                self.over_while_away(match, match_id, last_tick, took())
                return False
            if outcome.final:
                raise self.fail(MATCH, MATCH_RESUME, outcome.reason, took())
            why = outcome.reason

    def dial_match(self, match: MatchStream, url: str, deadline: float) -> Dialled:
        """One connection attempt of a seat, until its snapshot or its close."""
        handle = match.next_socket()
        try:
            sock = Socket(url, self.base, self.token, handle, self.options.heartbeat)
        except websocket.WebSocketBadStatusException as exc:
            return Dialled(f"handshake refused: {exc.status_code}", final=True)
        except (websocket.WebSocketException, OSError) as exc:
            return Dialled(f"handshake: {type(exc).__name__} {exc}")
        match.socket = sock
        gevent.wait(
            [match.synced, sock.closed],
            count=1,
            timeout=min(WAIT_TIMEOUT, max(1.0, deadline - time.monotonic())),
        )
        if match.synced.is_set():
            return Dialled("")
        if not sock.closed.is_set():
            sock.close()
            return Dialled(f"no snapshot within {WAIT_TIMEOUT:.0f} s")
        code = sock.close_code
        reason = f"error {match.close_error}" if match.close_error else sock.describe_close()
        match.close_error = ""
        sock.close(wait=0)
        return Dialled(reason, code is not None and code in MATCH_FINAL_CLOSES, code)

    def over_while_away(self, match: MatchStream, match_id: str, last_tick: int, ms: float) -> None:
        """The match ended before the seat got back (a resume refused with 4410): what it
        missed comes from the match's result."""
        try:
            response = _quiet.get(f"{self.base}/api/matches/{match_id}/", timeout=WAIT_TIMEOUT)
            response.raise_for_status()
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise self.fail(MATCH, MATCH_OVER_AWAY, f"its result: {type(exc).__name__} {exc}", ms) from None
        result = body.get("result") or {}
        if body.get("status") != "finished" or result.get("reason") == "aborted":
            raise self.fail(MATCH, MATCH_DURATION, "the match was aborted", ms)
        mine: dict[str, Any] = next((e for e in result.get("ranking", ()) if e.get("s") == match.seat), {})
        if mine.get("ff"):
            raise self.fail(MATCH, MATCH_OVER_AWAY, "this seat forfeited", ms)
        match.ended_at = now_ms()
        self.report(MATCH, MATCH_OVER_AWAY, ms, max(0, int(result.get("tick", last_tick)) - last_tick))

    def back_to_lobby(self, match_id: str, ended_at: float, rated: bool, since: int = 0) -> None:
        """A rated match is over for the lobby when the rating arrives (the result is recorded
        and the player is free to queue again). A lobby resumed since the match began (resume
        ``since`` + 1 on) whose state no longer had the match had freed the player already:
        its rating went to the dropped socket, and there is nothing to measure."""
        if not rated:
            return
        deadline = time.monotonic() + WAIT_TIMEOUT
        while True:
            try:
                rating = self.ratings.get(timeout=0.5)
            except Empty:
                if self.lobby_dead:
                    raise StepFailed(self.lobby_dead) from None
                if self.last_view is not None and self.last_view[0] > since:
                    ready = self.last_view[1].get(lp.MATCH_READY)
                    if ready is None or ready["match"] != match_id:
                        log.debug(
                            "player %d: rating of %s pushed while the lobby was away", self.id, match_id
                        )
                        return
                if not self.lobby_up.is_set():
                    deadline += 0.5
                if time.monotonic() >= deadline:
                    raise self.fail(LOBBY, BACK_TO_LOBBY, f"no rating within {WAIT_TIMEOUT:.0f} s") from None
                continue
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
    """What one seat sees of a match: checks every frame, measures latency and frame rate.
    It outlives its sockets: a resumed seat carries on from the resumed snapshot."""

    def __init__(self, player: Player, seat: int) -> None:
        self.player = player
        self.seat = seat
        self.socket: Socket | None = None
        self.generation = 0  # of the current socket: messages of an older one are ignored
        self.credential = ""  # from the seat message: the only way back onto the seat
        self.grace = 30.0  # seconds the seat is kept after a drop (the seat message says)
        self.resuming = False  # the next snapshot is a resume's, not a resync
        self.close_error = ""  # the error the server sent before closing (seat_taken, ...)
        self.forfeited = False
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

    def next_socket(self) -> Callable[[dict[str, Any], int], None]:
        """The message handler of a new socket of this seat (older sockets fall silent)."""
        self.generation += 1
        generation = self.generation

        def handle(message: dict[str, Any], size: int) -> None:
            if generation == self.generation:
                self.handle(message, size)

        return handle

    def begin_resume(self) -> None:
        """The socket dropped: inputs sent before are never measured (their latency would be
        the gap), nor is the frame rate of the seconds around it."""
        self.resuming = True
        self.synced.clear()
        self.sent.clear()
        self.close_error = ""
        self.window_frames = self.window_bytes = 0

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
        elif kind == SEAT:
            self.credential = message["resume"]
            self.grace = float(message["grace"])
        elif kind == SNAPSHOT:
            if self.resuming:  # a resume: the tick check starts again from this snapshot
                self.resuming = False
                self.window_start = now_ms()
            elif self.synced.is_set() and message["tick"] > self.tick + 1:
                # Another snapshot replaces the state (a join answered twice is harmless); one
                # past the next tick is a resync: the server dropped frames on their way to us.
                log.debug("resync at tick %d after tick %d", message["tick"], self.tick)
                self.problem(
                    FRAME_GAPS, "resync: the server dropped frames to this player and sent a snapshot"
                )
            self.tick = message["tick"]
            self.players = {p["s"]: dict(p) for p in message["state"]["players"]}
            self.forfeited = bool(self.players.get(self.seat, {}).get("ff"))
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
            result = message["result"]
            aborted = result.get("reason") == "aborted"
            mine: dict[str, Any] = next((e for e in result.get("ranking", ()) if e.get("s") == self.seat), {})
            if self.running_at and not aborted:
                self.player.report(MATCH, MATCH_DURATION, self.ended_at - self.running_at)
            if aborted:
                lasted = self.ended_at - self.running_at if self.running_at else 0.0
                self.problem(MATCH_DURATION, "the match was aborted", fatal=True, ms=lasted)
            elif mine.get("ff"):
                self.problem(MATCH_DURATION, "this seat forfeited", fatal=True)
            self.over.set()
        elif kind == ERROR:
            self.close_error = message["code"]
            if message["code"] in CLOSING_ERRORS:
                return  # the close that follows decides: a resume, or a failure
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
        for event in message["ev"]:
            if event[:2] == ["forfeit", self.seat]:
                self.problem(MATCH_SOCKET, "this seat forfeited while connected", fatal=True)
                self.over.set()
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

    def on_start(self) -> None:
        for adapter in self.client.adapters.values():
            adapter.max_retries = http_retry()  # type: ignore[attr-defined]

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
        since = player.resumes
        ended_at = player.play(ready)
        player.back_to_lobby(ready["match"], ended_at, rated, since)

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
                    join = {"t": lp.QUEUE_JOIN, "mode": mode}
                    player.send(join)
                    ready = player.await_match(mode, queued_at, partial(player.send, join))
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
                accept = {"t": lp.PARTY_ACCEPT, "party": invitation["party"]}
                member.send(accept)
                member.expect(
                    lp.PARTY,
                    step=PARTY_ACCEPT,
                    where=lambda m: len(m["members"]) > 1,
                    on_resume=member.again(accept),
                )
                member.report(LOBBY, PARTY_ACCEPT, now_ms() - accepted)
            leader.expect(lp.PARTY, step=PARTY_ACCEPT, where=lambda m: len(m["members"]) == len(crew))
            for _ in range(options.matches_per_session):
                queued_at = time.monotonic()
                join = {"t": lp.QUEUE_JOIN, "mode": options.party_mode}
                leader.send(join)
                readies = together(
                    partial(leader.await_match, options.party_mode, queued_at, partial(leader.send, join)),
                    *[partial(m.await_match, options.party_mode, queued_at) for m in members],
                )
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

                def unstarted(view: dict[str, dict[str, Any]]) -> None:
                    """The host's room_start lost with its lobby socket: the room is still there."""
                    if view.get(lp.ROOM, {}).get("code"):
                        host.send({"t": lp.ROOM_START})

                readies = together(
                    *[
                        partial(
                            p.expect, lp.MATCH_READY, step=ROOM_START, where=p.fresh_ready,
                            on_resume=unstarted if p is host else None,
                        )
                        for p in crew
                    ]
                )  # fmt: skip
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
                chat = {"t": lp.CHAT, "text": text}
                player.send(chat)
                player.expect(lp.CHAT, step=CHAT, where=field_is("text", text), on_resume=player.again(chat))
                player.report(LOBBY, CHAT, now_ms() - sent)
                ping_id += 1
                sent = now_ms()
                ping = {"t": PING, "id": ping_id}
                player.send(ping)
                player.expect(
                    PONG, step=LOBBY_PING, where=field_is("id", ping_id), on_resume=player.again(ping)
                )
                player.report(LOBBY, LOBBY_PING, now_ms() - sent)

        self.session(work)
