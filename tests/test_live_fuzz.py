"""A live fuzz: a real server process, two honest players in a real match, and a third seat's
socket plus a lobby socket sending thousands of random and malformed frames.

The fuzzers send random bytes, truncated msgpack, maps and arrays at (and past) the decoder's
limits, lies about lengths, deep nesting, wrong types, unknown types, text frames, frames over
WS_MAX_MESSAGE_BYTES and over the server's own 64 KiB cap, well-formed requests with random
fields, and flood bursts; closed (4400, 4429, a dropped connection), they reconnect: the match
seat with its resume credential, the lobby one with its token. Meanwhile the honest players
must see every frame in order (a jump only after a fresh snapshot), never an error or a close
before the end, the match must end normally with one finished result, an honest lobby socket
must stay open and answer, the server process must live and its memory stay bounded.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import psutil
import pytest
import websocket

from tests.e2e import (
    READY,
    LobbyClient,
    Process,
    create_match,
    database_url,
    manage,
    post_json,
    query,
    server_env,
    steer,
)
from tests.gameserver.test_properties import BIN_KEYS_AT_THE_TOP

Frame = str | bytes
SEED = 20261201
MATCH_SECONDS = 20
RSS_CEILING = 200 * 1024 * 1024
# The closes a fuzzer may get: out of strikes (protocol errors, floods), a frame over the
# server's 64 KiB cap (Daphne's 1009, or just a dropped connection: None), 4408 (idle or not
# reading, if the edge closes such sockets). Never 1011: a server failure on a client's message.
FUZZER_CLOSES = {4400, 4429, 1009, 4408, None}


def packb(obj: object) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


# --- frames ---------------------------------------------------------------------------------------

BOUNDARY = [0, 1, -1, 2, -2, 4095, 4096, 2**31 - 1, 2**31, 2**32, -(2**63), 2**64 - 1, 64, 65]
SCALARS: list[Any] = [None, True, False, 1.0, 0.5, float("inf"), "", "x", "é" * 10, b"", b"\x00" * 8, [], {}]


def any_scalar(rng: random.Random) -> Any:
    if rng.random() < 0.5:
        return rng.choice(BOUNDARY)
    return rng.choice([*SCALARS, rng.randrange(-(2**63), 2**64), "a" * rng.randrange(0, 300)])


def key(rng: random.Random) -> Any:
    if BIN_KEYS_AT_THE_TOP and rng.random() < 0.1:  # see tests/gameserver/test_properties.py
        return rng.randbytes(rng.randrange(0, 4))
    return rng.choice(["t", "seq", "id", "x", "mx", "text", "mode", "", "é", "t "]) + str(rng.randrange(3))


def noise(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randrange(0, 200))


def well_formed_input(rng: random.Random) -> dict[str, Any]:
    return {
        "t": "input",
        "seq": rng.randrange(1, 2**31),
        "mx": rng.randrange(-1, 2),
        "my": rng.randrange(-1, 2),
        "aim": rng.randrange(4096),
        "fire": rng.random() < 0.5,
    }


LOBBY_REQUESTS: list[Callable[[random.Random], dict[str, Any]]] = [
    lambda r: {"t": "chat", "text": rng_text(r, 1, 220)},
    lambda r: {"t": "party_invite", "player": r.choice([*BOUNDARY, r.randrange(1, 2**31)])},
    lambda r: {"t": "party_accept", "party": r.randrange(1, 2**31)},
    lambda r: {"t": "party_decline", "party": r.randrange(1, 50)},
    lambda r: {"t": "party_leave"},
    lambda r: {"t": "party_kick", "player": r.randrange(1, 50)},
    lambda r: {"t": "queue_join", "mode": r.choice(["duel", "team", "ffa", "DUEL", "", 1])},
    lambda r: {"t": "queue_leave"},
    lambda r: {"t": "ready", "check": r.randrange(1, 100), "accept": r.random() < 0.5},
    lambda r: {
        "t": "room_create",
        "mode": r.choice(["duel", "team", "ffa"]),
        "max": r.randrange(0, 70),
        "public": r.random() < 0.5,
        "password": rng_text(r, 0, 40),
    },
    lambda r: {"t": "room_join", "code": rng_text(r, 0, 20), "password": rng_text(r, 0, 33)},
    lambda r: {"t": "room_leave"},
    lambda r: {"t": "room_start"},
]


def rng_text(rng: random.Random, low: int, high: int) -> str:
    alphabet = "abcXYZ 019\n\t\u200b\u202eé€😀\x00"
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(low, high + 1)))


def broken(rng: random.Random, message: dict[str, Any]) -> dict[str, Any]:
    """A field dropped, added, or given a wrong type."""
    message = dict(message)
    how = rng.randrange(4)
    if how == 0 and len(message) > 1:
        message.pop(rng.choice([k for k in message if k != "t"]))
    elif how == 1:
        message[key(rng)] = any_scalar(rng)
    elif how == 2:
        field_ = rng.choice(list(message))
        message[field_] = any_scalar(rng)
    return message


def frame(rng: random.Random, lobby: bool) -> Frame:
    """One hostile frame (usually under WS_MAX_MESSAGE_BYTES; see the module docstring)."""
    well = rng.choice(LOBBY_REQUESTS)(rng) if lobby else well_formed_input(rng)
    kind = rng.randrange(16)
    if kind == 0:
        return noise(rng)
    if kind == 1:  # truncated msgpack
        data = packb(well)
        return data[: rng.randrange(len(data))]
    if kind == 2:  # the most pairs a map may have, and one more
        pairs = rng.choice([31, 32])
        return packb({"t": well["t"], **{f"k{i}": i for i in range(pairs)}})
    if kind == 3:  # lies about lengths: a map16/array32/str32 header with little behind it
        return rng.choice(
            [b"\xde\xff\xff", b"\xdd\x00\x01\x00\x00", b"\xdb\xff\xff\xff\xff", b"\xc6\x7f\xff\xff\xff"]
        )
    if kind == 4:  # deep nesting, within the size limit
        depth = rng.randrange(1, 1000)
        return packb({"t": well["t"]}).replace(b"\x81", b"\x82", 1) + packb("x") + b"\x91" * depth + b"\x90"
    if kind == 5:  # arrays and strings at the limits
        return packb(
            {"t": well["t"], "a": list(range(rng.choice([64, 65]))), "s": "s" * rng.choice([256, 257])}
        )
    if kind in (6, 7):  # wrong types
        return packb(broken(rng, well))
    if kind == 8:  # unknown types
        return packb(
            {
                "t": rng.choice(
                    ["teleport", "snapshot", "frame", "end", "error", "input " if lobby else "chat"]
                )
            }
        )
    if kind == 9:  # text frames
        return rng.choice(["", "hello", '{"t": "ping", "id": 1}', rng_text(rng, 0, 50)])
    if kind == 10:  # over WS_MAX_MESSAGE_BYTES
        return rng.randbytes(rng.randrange(1025, 8000))
    if kind == 11:  # not a map, or no string t
        return packb(rng.choice([[1, 2], "ping", 7, {"type": "ping"}, {"t": 5}, {"t": None}, None]))
    if kind == 12:  # extension types, trailing bytes
        return rng.choice(
            [b"\xd4\x01\x00", b"\xd6\xff\x00\x00\x00\x00", packb({"t": "ping", "id": 1}) + b"\x00"]
        )
    if kind == 13:
        return packb({"t": "ping", "id": rng.choice([*BOUNDARY, "1", 1.0])})
    return packb(well)  # well-formed (the lobby: a real request with random fields)


OVERSIZED = b"\x00" * (70 * 1024)  # over the server's 64 KiB cap: it drops the connection


# --- the server ----------------------------------------------------------------------------------


@dataclass
class Server:
    base: str
    process: Process
    db_url: str

    @property
    def rss(self) -> int:
        return int(psutil.Process(self.process.proc.pid).memory_info().rss)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with database_url(tmp_path) as db_url:
        env = server_env(DATABASE_URL=db_url)
        migrate = Process(manage("migrate", "--noinput", "-v", "0"), env)
        assert migrate.proc.wait(timeout=120) == 0, "\n".join(migrate.lines)
        process = Process(manage("serve", "--port", "0"), env)
        try:
            yield Server(process.wait_for(READY).group(1), process, db_url)
        finally:
            process.stop()


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


def close_code(data: bytes) -> int | None:
    return int.from_bytes(data[:2], "big") if len(data) >= 2 else None


# --- honest clients ------------------------------------------------------------------------------


@dataclass
class Honest:
    """A real player (``tests.e2e.steer``) that keeps every message's kind and tick."""

    base: str
    match_id: str
    ticket: str
    seat: int
    seen: list[tuple[str, int]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    ends: list[dict[str, Any]] = field(default_factory=list)
    close: int | None = -1  # -1: never closed by the server
    failure: str = ""

    def run(self, until: float) -> None:
        sock = websocket.create_connection(
            ws_url(self.base, f"/ws/match/{self.match_id}/?ticket={self.ticket}"),
            timeout=10,
            origin=self.base,
        )
        players: dict[int, dict[str, Any]] = {}
        seq = 0
        try:
            while time.monotonic() < until:
                try:
                    opcode, data = sock.recv_data(control_frame=True)
                except websocket.WebSocketTimeoutException:
                    continue
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self.close = close_code(data)
                    return
                if opcode != websocket.ABNF.OPCODE_BINARY:
                    continue
                message = msgpack.unpackb(data)
                kind = message["t"]
                self.seen.append((kind, message.get("tick", -1)))
                if kind == "snapshot":
                    players = {p["s"]: dict(p) for p in message["state"]["players"]}
                elif kind == "frame":
                    for change in message["d"].get("p", []):
                        players[change["s"]].update(change)
                    if message["tick"] % 2 == 0:
                        seq += 1
                        sock.send_binary(packb(steer(players, self.seat, seq, message["tick"])))
                elif kind == "end":
                    self.ends.append(message)
                elif kind == "error":
                    self.errors.append(message)
        except (OSError, websocket.WebSocketException) as exc:
            self.failure = repr(exc)
        finally:
            with contextlib.suppress(Exception):
                if self.close != -1:  # the server closed: a second close handshake would fail
                    sock.shutdown()
                else:
                    sock.close()

    def check(self) -> None:
        assert not self.failure, f"seat {self.seat}: {self.failure}"
        assert self.errors == [], f"seat {self.seat} got errors: {self.errors}"
        assert self.close == 1000, f"seat {self.seat} was closed {self.close}; last {self.seen[-8:]}"
        assert len(self.ends) == 1, self.ends
        assert self.ends[0]["result"]["reason"] in {"time", "score"}, self.ends[0]
        assert self.seen[0][0] == "seat"
        last: int | None = None
        frames = 0
        for kind, tick in self.seen:
            if kind == "snapshot":
                assert last is None or tick >= last, (
                    f"seat {self.seat}: a snapshot went back: {last} -> {tick}"
                )
                last = tick
            elif kind == "frame":
                assert last is not None, f"seat {self.seat}: a frame before any snapshot"
                assert tick == last + 1, (
                    f"seat {self.seat}: a gap or a repeat without a snapshot: {last} -> {tick}"
                )
                last = tick
                frames += 1
        assert frames > 0
        assert self.seen[-1] == ("end", last), (
            f"seat {self.seat}: frames stopped before the end: {self.seen[-4:]}"
        )


class HonestLobby:
    """A signed-in lobby socket that reads everything and pings now and then."""

    def __init__(self, base: str, header: list[str]) -> None:
        self.client = LobbyClient(base, header)
        self.client.sock.settimeout(0.5)
        self.closed: int | None = -1
        self.failure = ""
        self.pongs: set[int] = set()
        self.kinds: dict[str, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        sock, ping, next_ping = self.client.sock, 0, time.monotonic()
        try:
            while not self.stop.is_set():
                if time.monotonic() >= next_ping:
                    ping += 1
                    sock.send_binary(packb({"t": "ping", "id": ping}))
                    next_ping = time.monotonic() + 3
                try:
                    opcode, data = sock.recv_data(control_frame=True)
                except websocket.WebSocketTimeoutException:
                    continue
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self.closed = close_code(data)
                    return
                if opcode != websocket.ABNF.OPCODE_BINARY:
                    continue
                message = msgpack.unpackb(data)
                self.kinds[message["t"]] = self.kinds.get(message["t"], 0) + 1
                if message["t"] == "pong":
                    self.pongs.add(message["id"])
        except (OSError, websocket.WebSocketException) as exc:
            self.failure = repr(exc)

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(10)
        with contextlib.suppress(Exception):
            self.client.sock.close()


# --- fuzzers -------------------------------------------------------------------------------------


@dataclass
class Fuzzer:
    """Sends hostile frames on one socket after another until told to stop."""

    name: str
    rng: random.Random
    lobby: bool
    stop: threading.Event = field(default_factory=threading.Event)
    sent: int = 0
    connections: int = 0
    closes: dict[int | None, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    failure: str = ""

    def open(self) -> websocket.WebSocket:
        raise NotImplementedError

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.one_connection()
        except Exception as exc:  # reported by the test, not lost in the thread
            self.failure = repr(exc)

    def one_connection(self) -> None:
        sock = self.open()
        if self.stop.is_set():
            sock.close()
            return
        self.connections += 1
        sock.settimeout(0.05)
        # Each kind of abuse at least once, then at random.
        first = ["burst", "flood", "oversized", "paced", "mixed"]
        if self.connections <= len(first):
            mode = first[self.connections - 1]
        else:
            mode = self.rng.choice(["flood", "burst", "paced", "paced", "mixed", "mixed", "oversized"])
        closed: int | str | None = "open"
        try:
            if mode == "flood":  # far more at once than the burst and the strikes allow
                for _ in range(400):
                    self.send(sock, frame(self.rng, self.lobby))
            elif mode == "burst":  # well-formed messages, faster than the rate limit: 4429
                for i in range(300):
                    self.send(sock, packb({"t": "ping", "id": i + 1}))
            elif mode == "oversized":
                for _ in range(self.rng.randrange(0, 20)):
                    self.send(sock, frame(self.rng, self.lobby))
                self.send(sock, OVERSIZED)
            deadline = time.monotonic() + 8
            while closed == "open" and not self.stop.is_set() and time.monotonic() < deadline:
                if mode in {"paced", "mixed"}:
                    for _ in range(self.rng.randrange(1, 8 if mode == "paced" else 40)):
                        self.send(sock, frame(self.rng, self.lobby))
                closed = self.read(sock)
                if mode == "paced":
                    time.sleep(0.02)
        except (OSError, websocket.WebSocketException):
            closed = None  # the server dropped the connection (an oversized frame)
        finally:
            if closed == "open" and not self.stop.is_set():
                with contextlib.suppress(Exception):  # read what is left: the close, if any
                    sock.settimeout(5)
                    while (closed := self.read(sock)) == "open":
                        pass
            if closed != "open":
                code = closed if isinstance(closed, int) else None
                self.closes[code] = self.closes.get(code, 0) + 1
            with contextlib.suppress(Exception):
                sock.close()

    def send(self, sock: websocket.WebSocket, data: Frame) -> None:
        if isinstance(data, str):
            sock.send(data)
        else:
            sock.send_binary(data)
        self.sent += 1

    def read(self, sock: websocket.WebSocket) -> int | str | None:
        """Everything available now; the close code once closed, else "open"."""
        while True:
            try:
                opcode, data = sock.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                return "open"
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return close_code(data)
            if opcode == websocket.ABNF.OPCODE_BINARY:
                message = msgpack.unpackb(data)
                if message.get("t") == "error":
                    self.errors[message["code"]] = self.errors.get(message["code"], 0) + 1
            elif opcode == websocket.ABNF.OPCODE_TEXT:
                raise AssertionError(f"{self.name}: the server sent a text frame: {data!r}")


class MatchFuzzer(Fuzzer):
    def __init__(self, base: str, created: dict[str, Any], seat: int, rng: random.Random) -> None:
        super().__init__(name=f"match seat {seat}", rng=rng, lobby=False)
        self.base, self.created, self.seat = base, created, seat
        self.credential = ""

    def open(self) -> websocket.WebSocket:
        query = (
            f"resume={self.credential}"
            if self.credential
            else f"ticket={self.created['tickets'][self.seat]['ticket']}"
        )
        sock = websocket.create_connection(
            ws_url(self.base, f"/ws/match/{self.created['id']}/?{query}"), timeout=10, origin=self.base
        )
        seat = msgpack.unpackb(sock.recv())
        if seat == {"t": "error", "code": "match_over", "detail": seat.get("detail")}:
            self.stop.set()  # the match is over: nothing left to fuzz on this seat
        else:
            assert seat["t"] == "seat", f"{self.name} refused: {seat}"
            self.credential = seat["resume"]
        return sock

    def wait_until_running(self, timeout: float = 60.0) -> None:
        """Seat claimed and the match running: from then on its drops cannot hold the start."""
        sock = self.open()
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                message = msgpack.unpackb(sock.recv())
                if message["t"] == "frame":
                    return
            raise AssertionError("the match never ran")
        finally:
            sock.close()


class LobbyFuzzer(Fuzzer):
    def __init__(self, base: str, header: list[str], rng: random.Random) -> None:
        super().__init__(name="lobby", rng=rng, lobby=True)
        self.base, self.header = base, header

    def open(self) -> websocket.WebSocket:
        return websocket.create_connection(
            ws_url(self.base, "/ws/lobby/"), timeout=10, origin=self.base, header=self.header
        )


def guest(base: str, name: str) -> tuple[int, list[str]]:
    status, body = post_json(base, "/api/auth/token/", {"guest": name})
    assert status == 201, body
    return body["player"]["id"], [f"Authorization: Bearer {body['token']}"]


@pytest.mark.timeout(180)
def test_two_players_finish_their_match_while_a_third_seat_and_a_lobby_socket_fuzz_the_server(server):
    rng = random.Random(SEED)
    created = create_match(server.base, players=3, time_limit=MATCH_SECONDS, score_limit=100)
    _, lobby_header = guest(server.base, "fuzzer")
    _, watcher_header = guest(server.base, "watcher")
    watcher = HonestLobby(server.base, watcher_header)
    match_fuzzer = MatchFuzzer(server.base, created, 2, random.Random(rng.random()))
    lobby_fuzzer = LobbyFuzzer(server.base, lobby_header, random.Random(rng.random()))

    until = time.monotonic() + MATCH_SECONDS + 90
    honest = [Honest(server.base, created["id"], created["tickets"][s]["ticket"], s) for s in (0, 1)]
    players = [threading.Thread(target=h.run, args=(until,), daemon=True) for h in honest]
    for thread in players:
        thread.start()
    match_fuzzer.wait_until_running()
    rss_before = server.rss
    fuzzers = [threading.Thread(target=f.run, daemon=True) for f in (match_fuzzer, lobby_fuzzer)]
    for thread in fuzzers:
        thread.start()

    for thread in players:
        thread.join(MATCH_SECONDS + 90)
    for fuzzer in (match_fuzzer, lobby_fuzzer):
        fuzzer.stop.set()
    for thread in fuzzers:
        thread.join(30)
    rss_after = server.rss
    watcher_ping = 10**6
    watcher.client.send({"t": "ping", "id": watcher_ping})
    deadline = time.monotonic() + 15
    while watcher_ping not in watcher.pongs and time.monotonic() < deadline and watcher.thread.is_alive():
        time.sleep(0.05)
    watcher.finish()

    report = {
        f.name: {"sent": f.sent, "connections": f.connections, "closes": f.closes, "errors": f.errors}
        for f in (match_fuzzer, lobby_fuzzer)
    }
    result = honest[0].ends[0]["result"] if honest[0].ends else None
    print(f"\nfuzzers: {report}\nserver RSS: {rss_before / 2**20:.1f} MiB -> {rss_after / 2**20:.1f} MiB")
    print(f"result: {result}")
    assert server.process.proc.poll() is None, "the server died:\n" + "\n".join(server.process.lines[-40:])
    for fuzzer in (match_fuzzer, lobby_fuzzer):
        assert not fuzzer.failure, f"{fuzzer.name}: {fuzzer.failure}"
        assert not any(t.is_alive() for t in fuzzers), "a fuzzer is still running"
        assert fuzzer.sent >= 500, f"{fuzzer.name} sent only {fuzzer.sent} frames"
        assert fuzzer.connections >= 5, report
        # The match seat's last socket may see the match end (1000), as any player's would.
        allowed = FUZZER_CLOSES | ({1000} if fuzzer is match_fuzzer else set())
        assert set(fuzzer.closes) <= allowed, f"{fuzzer.name}: unexpected closes {fuzzer.closes}"
        assert {4400, 4429} <= set(fuzzer.closes), f"{fuzzer.name}: {fuzzer.closes}"
    assert match_fuzzer.sent + lobby_fuzzer.sent >= 2000, report
    for player in honest:
        player.check()
    assert honest[0].ends == honest[1].ends
    assert query(server.db_url, "SELECT status FROM match_match", ()) == [("finished",)]
    assert watcher.closed == -1, f"the honest lobby socket was closed {watcher.closed}"
    assert not watcher.failure, watcher.failure
    assert watcher_ping in watcher.pongs, f"the honest lobby socket stopped answering: {watcher.kinds}"
    assert rss_after - rss_before < RSS_CEILING, (
        f"server RSS grew by {(rss_after - rss_before) / 2**20:.0f} MiB"
    )
    failures = [
        line for line in server.process.lines if "failed; closing 1011" in line or "Traceback" in line
    ]
    assert failures == [], "\n".join(failures[:20])
