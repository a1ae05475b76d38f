"""Faults provoked for real against real server processes: an oversized frame that makes the
server drop a socket mid-stream, a client flooding at full speed, a Redis server restarted
under a running match. Whatever fails, the socket's cleanup runs and the match goes on."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgpack
import pytest
import websocket

from tests.conftest import free_port, wait_for_port
from tests.e2e import (
    READY,
    LobbyClient,
    Process,
    create_match,
    database_url,
    manage,
    play,
    play_all,
    post_json,
    query,
    served,
    server_env,
)

OVERSIZED = b"\x00" * (70 * 1024)  # over the server's 64 KiB cap: it drops the connection


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    with database_url(tmp_path) as url:
        yield url


@pytest.fixture
def server(db_url: str) -> Iterator[str]:
    with served(server_env(DATABASE_URL=db_url)) as (_, url):
        yield url


def guest(base: str, name: str) -> tuple[int, list[str]]:
    status, body = post_json(base, "/api/auth/token/", {"guest": name})
    assert status == 201, body
    return body["player"]["id"], [f"Authorization: Bearer {body['token']}"]


def match_socket(base: str, created: dict[str, Any], seat: int) -> websocket.WebSocket:
    ticket = created["tickets"][seat]["ticket"]
    url = base.replace("http://", "ws://") + f"/ws/match/{created['id']}/?ticket={ticket}"
    return websocket.create_connection(url, timeout=15, origin=base)


def next_message(sock: websocket.WebSocket, kind: str, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message: dict[str, Any] = msgpack.unpackb(sock.recv())
        if message["t"] == kind:
            return message
    raise AssertionError(f"no {kind} within {timeout}s")


def an_input(seq: int, **controls: Any) -> bytes:
    return msgpack.packb({"t": "input", "seq": seq, "mx": 0, "my": 0, "aim": 0, "fire": False, **controls})


def test_a_lobby_socket_the_server_drops_mid_stream_leaves_no_ghost(server):
    _, ann_header = guest(server, "ann")
    bob_id, bob_header = guest(server, "bob")
    ann, bob = LobbyClient(server, ann_header), LobbyClient(server, bob_header)
    ann.expect("welcome")
    bob.expect("welcome")
    while not any(bob_id in [p["id"] for p in m.get("joined", [])] for m in ann.seen if m["t"] == "presence"):
        ann.expect("presence", timeout=15)
    bob.sock.send_binary(OVERSIZED)  # the server drops bob's socket...
    for text in ("one", "two", "three"):  # ...while pushes to it are under way
        ann.send({"t": "chat", "text": text})
    deadline = time.monotonic() + 30
    while not any(bob_id in m.get("left", []) for m in ann.seen if m["t"] == "presence"):
        assert time.monotonic() < deadline, "bob never left the lobby: a ghost"
        ann.expect("presence", timeout=deadline - time.monotonic())
    status, body = post_json(server, "/api/auth/token/", {"guest": "bob"})
    assert status == 201, f"bob's name is still held by a ghost: {body}"
    ann.close()
    bob.close()


def test_a_match_socket_the_server_drops_mid_stream_stops_its_avatar(server):
    created = create_match(server, players=2, time_limit=30)
    a, b = match_socket(server, created, 0), match_socket(server, created, 1)
    next_message(a, "snapshot")
    next_message(b, "snapshot")
    next_message(b, "frame")
    a.send_binary(an_input(1, mx=1, my=1, fire=True))
    while next_message(b, "frame")["acks"][0] != 1:
        pass
    a.send_binary(OVERSIZED)
    while (frame := next_message(b, "frame"))["acks"][0] != 2:  # the idle input of an absent seat
        pass
    quiet = [next_message(b, "frame") for _ in range(12)]
    assert quiet[-1]["acks"][0] == 2
    assert [e for f in [frame, *quiet] for e in f["ev"] if e[0] == "fire" and e[1] == 0] == []
    a.close()
    b.close()


def test_a_client_flooding_at_full_speed_is_closed_4429_and_the_others_play_on(server, db_url):
    created = create_match(server, players=3, time_limit=8)
    flooder = match_socket(server, created, 0)
    next_message(flooder, "snapshot")
    deadline = time.monotonic() + 40
    logs: list[Any] = [None, None]
    honest = [
        threading.Thread(
            target=lambda i=i: logs.__setitem__(
                i, play(server, created["id"], created["tickets"][i + 1]["ticket"], i + 1, deadline)
            )
        )
        for i in range(2)
    ]
    for thread in honest:
        thread.start()
    next_message(flooder, "frame", timeout=30)
    closed: dict[str, Any] = {}

    def read_until_closed() -> None:
        try:
            while True:
                opcode, data = flooder.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    closed["code"] = int.from_bytes(data[:2], "big")
                    return
        except (websocket.WebSocketException, OSError) as exc:
            closed.setdefault("error", repr(exc))

    reader = threading.Thread(target=read_until_closed)
    reader.start()
    started, seq = time.monotonic(), 0
    try:
        while reader.is_alive() and time.monotonic() - started < 15:
            seq += 1
            flooder.send_binary(an_input(seq, mx=1))
    except (websocket.WebSocketException, OSError):
        pass  # the server cut it off
    reader.join(20)
    flooded_for = time.monotonic() - started
    assert closed.get("code") == 4429, f"flooder not closed 4429 ({closed}, {seq} inputs sent)"
    assert flooded_for < 15, f"the flooder was still open after {flooded_for:.1f}s"
    for thread in honest:
        thread.join(60)
    for log in logs:
        assert log is not None, "an honest player's thread died"
        assert log.close_code == 1000, f"seat {log.seat} was closed {log.close_code}"
        assert len(log.ends) == 1
        assert log.errors == []
        assert log.max_ack > 0, "the honest player's inputs were applied"
        assert log.frame_ticks == sorted(set(log.frame_ticks)), "frames out of order or repeated"
    rows = query(db_url, "SELECT status FROM match_match", ())
    assert rows == [("finished",)]
    flooder.close()


class PrivateRedis:
    """A redis-server of this test's own, so that it can be killed and started again."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (make test installs it)"
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="test-redis-restart-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.proc = subprocess.Popen([*args, "--dir", self.dir], stdout=subprocess.DEVNULL)
        wait_for_port(self.port, timeout=30)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def redis_of_our_own(db_url: str, **extra: str) -> Iterator[tuple[PrivateRedis, dict[str, str]]]:
    """A private redis-server, and the environment of processes on it with a migrated database."""
    redis = PrivateRedis()
    redis.start()
    try:
        env = server_env(DATABASE_URL=db_url, REDIS_URL=redis.url, **extra)
        migrate = Process(manage("migrate", "--noinput", "-v", "0"), env)
        assert migrate.proc.wait(timeout=120) == 0, "\n".join(migrate.lines)
        yield redis, env
    finally:
        redis.close()


def test_the_tick_loop_simulates_on_through_a_redis_restart_and_players_resync(db_url):
    process: Process | None = None
    with redis_of_our_own(db_url) as (redis, env):
        try:
            process = Process(manage("serve", "--port", "0"), env)
            base = process.wait_for(READY).group(1)
            created = create_match(base, players=2, time_limit=10)
            sockets = [match_socket(base, created, seat) for seat in (0, 1)]
            seen: list[list[tuple[str, int]]] = [[], []]
            arrived: list[list[float]] = [[], []]  # monotonic time of each message in seen

            def record(seat: int) -> None:
                sock, seq, until = sockets[seat], 0, time.monotonic() + 60
                sock.settimeout(5)
                while time.monotonic() < until:
                    try:  # control frames too, so the server's pings cannot keep this waiting forever
                        opcode, data = sock.recv_data(control_frame=True)
                    except websocket.WebSocketTimeoutException:
                        continue
                    if opcode != websocket.ABNF.OPCODE_BINARY:
                        continue
                    message = msgpack.unpackb(data)
                    seen[seat].append((message["t"], message.get("tick", -1)))
                    arrived[seat].append(time.monotonic())
                    if message["t"] == "end":
                        return
                    if message["t"] == "frame" and message["tick"] % 4 == 0:
                        seq += 1
                        sock.send_binary(an_input(seq, mx=1))

            threads = [threading.Thread(target=record, args=(seat,)) for seat in (0, 1)]
            for thread in threads:
                thread.start()
            while sum(1 for kind, _ in seen[0] if kind == "frame") < 20:
                time.sleep(0.1)
            redis.kill()
            time.sleep(2)
            redis.start()
            started = time.monotonic()
            for thread in threads:
                thread.join(60)
            for seat, log in enumerate(seen):  # the numbers docs/reliability.md quotes
                delivered = {tick for kind, tick in log if kind in {"frame", "snapshot"}}
                back = next(
                    at
                    for (kind, _), at in zip(log, arrived[seat], strict=True)
                    if at > started and kind == "frame"
                )
                print(
                    f"\nseat {seat}: {len(set(range(min(delivered), max(delivered) + 1)) - delivered)} ticks "
                    "never seen, "
                    f"frames again {back - started:.2f} s after Redis started"
                )
            assert process.proc.poll() is None, "the server process died"
            for log in seen:
                assert log[-1][0] == "end", f"{log[-6:]}\n" + "\n".join(process.lines[-40:])
                frames_after = [i for i, (kind, _) in enumerate(log) if kind == "frame"]
                ticks = [tick for kind, tick in log if kind in {"frame", "snapshot"}]
                assert ticks == sorted(ticks), "frames out of order"
                for i, (kind, tick) in enumerate(log):  # every jump in ticks comes after a fresh snapshot
                    if kind == "frame" and i and log[i - 1][0] == "frame":
                        assert tick == log[i - 1][1] + 1, f"a gap was forwarded: {log[i - 1]} -> {log[i]}"
                assert log.count(("snapshot", ticks[0])) >= 1
                resumed = [i for i in frames_after if log[i][1] > log[-1][1] - 20]
                assert resumed, f"no frames after Redis came back: {log[-12:]}\n" + "\n".join(
                    process.lines[-30:]
                )
            rows = query(db_url, "SELECT status, ticks FROM match_match", ())
            assert len(rows) == 1
            assert rows[0][0] == "finished"
            assert rows[0][1] >= 10 * 20 - 1, "the clock kept running through the outage"
            for sock in sockets:
                sock.close()
        finally:
            if process is not None:
                process.stop()


def readyz(base: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError as exc:
        return 0, {"error": repr(exc)}


def until_ready(base: str, want: int, within: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    status, body = readyz(base)
    while status != want and time.monotonic() < deadline:
        time.sleep(0.5)
        status, body = readyz(base)
    assert status == want, f"/readyz stayed {status}: {body}"
    return body


def test_after_a_redis_restart_the_embedded_workers_play_new_matches_and_readiness_told_the_outage(db_url):
    process: Process | None = None
    with redis_of_our_own(db_url) as (redis, env):
        try:
            process = Process(manage("serve", "--port", "0"), env)
            base = process.wait_for(READY).group(1)
            body = until_ready(base, 200)
            assert body["workers"] == {"match-tick": 1, "matchmaker": 1}

            redis.kill()
            body = until_ready(base, 503)
            assert body["ready"] is False
            assert body["layer_ok"] is False
            redis.start()
            until_ready(base, 200)  # the workers listen again, nobody restarted them

            created = create_match(base, players=2, time_limit=5)
            logs = play_all([base], created, timeout=90)
            for log in logs:
                assert [e["result"]["reason"] for e in log.ends] in (["time"], ["score"]), log
                assert log.errors == []
            assert query(db_url, "SELECT status FROM match_match", ()) == [("finished",)]
            assert process.proc.poll() is None, "the server process died"
        finally:
            if process is not None:
                process.stop()


def test_after_a_redis_restart_the_tick_worker_and_matchmaker_processes_live_on_and_serve_the_lobby(db_url):
    cluster: Process | None = None
    with redis_of_our_own(db_url, MATCH_TIME_LIMIT="5") as (redis, env):
        try:
            cluster = Process(manage("cluster", "--port", "0", "--servers", "1", "--workers", "1"), env)
            base = cluster.wait_for(READY, timeout=180).group(1)
            until_ready(base, 200)

            redis.kill()
            until_ready(base, 503)
            redis.start()
            until_ready(base, 200)
            assert cluster.proc.poll() is None, "a cluster process exited:\n" + "\n".join(cluster.lines[-30:])

            # The matchmaker answers (welcome, a duel made) and the tick worker plays it.
            players = [guest(base, name) for name in ("ann", "bob")]
            lobbies = [LobbyClient(base, header) for _, header in players]
            for lobby in lobbies:
                lobby.expect("welcome", timeout=30)
                lobby.send({"t": "queue_join", "mode": "duel"})
            for lobby in lobbies:
                found = lobby.expect("match_found", timeout=30)
                lobby.send({"t": "ready", "check": found["check"], "accept": True})
            ready = [lobby.expect("match_ready", timeout=30) for lobby in lobbies]
            deadline = time.monotonic() + 60
            logs: list[Any] = [None, None]

            def run(i: int) -> None:
                logs[i] = play(
                    base, ready[i]["match"], ready[i]["ticket"], ready[i]["seat"], deadline, players[i][1]
                )

            threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(90)
            for log in logs:
                assert log is not None, "a player thread died"
                assert len(log.ends) == 1, log
                assert log.ends[0]["result"]["reason"] in {"time", "score"}
            for lobby in lobbies:
                assert lobby.expect("rating", timeout=30)["match"] == ready[0]["match"]
                lobby.close()
            assert cluster.proc.poll() is None, "a cluster process exited:\n" + "\n".join(cluster.lines[-30:])
        finally:
            if cluster is not None:
                cluster.stop()


ACTIVE = re.compile(r"matchmaker: this process is the active one")
STANDING_BY = re.compile(r"matchmaker: standing by")


def party_of_size(client: LobbyClient, size: int, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        party = client.expect("party", timeout=max(0.1, deadline - time.monotonic()))
        if len(party["members"]) == size:
            return party


def test_one_matchmaker_is_active_a_standby_takes_the_lobby_over_when_it_is_killed_or_stopped(db_url):
    """The standby goes on with the lobby its predecessor saved: a party formed before a
    SIGKILL is still there after it, and still there after a clean hand-over."""
    processes: list[Process] = []
    lobbies: list[LobbyClient] = []
    with redis_of_our_own(db_url) as (_redis, env):
        try:
            server = Process(manage("serve", "--port", "0", "--no-worker"), env)
            processes.append(server)
            first = Process(manage("runworker", "matchmaker"), env)
            processes.append(first)
            first.wait_for(ACTIVE)
            second = Process(manage("runworker", "matchmaker"), env)
            processes.append(second)
            second.wait_for(STANDING_BY)  # two matchmakers would split the lobby: this one waits
            base = server.wait_for(READY).group(1)
            (ann_id, ann_header), (bob_id, bob_header), (cat_id, cat_header) = (
                guest(base, name) for name in ("ann", "bob", "cat")
            )
            ann, bob, cat = (LobbyClient(base, h) for h in (ann_header, bob_header, cat_header))
            lobbies.extend([ann, bob, cat])
            for lobby in lobbies:
                lobby.expect("welcome", timeout=30)
            ann.send({"t": "party_invite", "player": bob_id})
            bob.send({"t": "party_accept", "party": bob.expect("party_invited", timeout=30)["party"]})
            party = party_of_size(ann, 2)
            time.sleep(1.0)  # a pass of the clock saves the lobby (every 0.25 s)

            os.killpg(first.proc.pid, signal.SIGKILL)
            first.proc.wait(timeout=30)
            second.wait_for(ACTIVE, timeout=60)  # once the dead one's lease expired
            second.wait_for(re.compile(r"lobby taken over: 3 players, 1 parties"), timeout=60)
            after = party_of_size(bob, 2)  # every player is told where they stand
            assert (after["id"], after["leader"]) == (party["id"], ann_id)
            ann.send({"t": "party_invite", "player": cat_id})  # requests work on the kept party
            cat.send({"t": "party_accept", "party": cat.expect("party_invited", timeout=30)["party"]})
            party_of_size(ann, 3)
            time.sleep(1.0)

            # A clean stop saves the lobby and hands over at once: the lease is released.
            third = Process(manage("runworker", "matchmaker"), env)
            processes.append(third)
            third.wait_for(STANDING_BY)
            second.stop()
            assert second.proc.returncode == 0, "\n".join(second.lines[-20:])
            assert any("lease released" in line for line in second.lines), "\n".join(second.lines[-20:])
            third.wait_for(ACTIVE, timeout=60)
            third.wait_for(re.compile(r"lobby taken over: 3 players, 1 parties"), timeout=60)
            assert [m["id"] for m in party_of_size(cat, 3)["members"]] == [ann_id, bob_id, cat_id]
            assert server.proc.poll() is None, "\n".join(server.lines[-30:])
        finally:
            for lobby in lobbies:
                lobby.close()
            for process in reversed(processes):
                process.stop()


class SeatLog:
    """What one player saw: (kind, tick) per message, the seat messages, the reconnects."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []
        self.seats: list[dict[str, Any]] = []
        self.phases: list[dict[str, Any]] = []
        self.end: dict[str, Any] | None = None
        self.resumed_at: list[int] = []  # snapshot tick of each resume
        self.lost_at: list[int] = []  # last tick seen before each drop


def play_resuming(
    bases: list[str], created: dict[str, Any], seat: int, log: SeatLog, until: float, pause: float = 0.5
) -> None:
    """A player that, when its connection dies, resumes its seat at the next server it knows
    after ``pause`` seconds."""
    ticket = created["tickets"][seat]["ticket"]
    base_index, seq, credential = 0, 0, ""
    while time.monotonic() < until and log.end is None:
        base = bases[base_index % len(bases)]
        query_string = f"resume={credential}" if credential else f"ticket={ticket}"
        url = base.replace("http://", "ws://") + f"/ws/match/{created['id']}/?{query_string}"
        try:
            sock = websocket.create_connection(url, timeout=5, origin=base)
        except (OSError, websocket.WebSocketException):
            base_index += 1
            time.sleep(0.5)
            continue
        try:
            while time.monotonic() < until:
                try:
                    opcode, data = sock.recv_data(control_frame=True)
                except websocket.WebSocketTimeoutException:
                    continue
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    return
                if opcode != websocket.ABNF.OPCODE_BINARY:
                    continue
                message = msgpack.unpackb(data)
                kind, tick = message["t"], message.get("tick", -1)
                log.seen.append((kind, tick))
                if kind == "seat":
                    log.seats.append(message)
                    if credential:
                        log.resumed_at.append(-1)
                    credential = message["resume"]
                elif kind == "snapshot" and log.resumed_at and log.resumed_at[-1] == -1:
                    log.resumed_at[-1] = tick
                elif kind == "phase":
                    log.phases.append(message)
                elif kind == "end":
                    log.end = message
                    return
                elif kind == "frame" and tick % 4 == 0:
                    seq += 1
                    sock.send_binary(an_input(seq, mx=1 if seq % 20 < 10 else -1))
        except (OSError, websocket.WebSocketException):  # the server process died under us
            ticks = [t for k, t in log.seen if k in {"frame", "snapshot"}]
            log.lost_at.append(ticks[-1] if ticks else 0)
            base_index += 1
            time.sleep(pause)
        finally:
            with contextlib.suppress(Exception):
                sock.close()


def test_a_killed_server_process_s_players_resume_their_seats_on_another_one(db_url):
    """SIGKILL the Daphne process holding a player: they resume on the other process within the
    grace period, the others saw them away meanwhile, and the match ends with one result. The
    player comes back after 10 s, well after the tick worker noticed the dead process (~5 s)."""
    processes: list[Process] = []
    with redis_of_our_own(db_url, MATCH_RECONNECT_GRACE="60") as (_redis, env):
        try:
            worker = Process(manage("runworker", "match-tick"), env)
            processes.append(worker)
            servers = [Process(manage("serve", "--port", "0", "--no-worker"), env) for _ in range(2)]
            processes.extend(servers)
            bases = [server.wait_for(READY).group(1) for server in servers]
            created = create_match(bases[0], players=2, time_limit=30)
            logs = [SeatLog(), SeatLog()]
            until = time.monotonic() + 120
            # Seat 0 starts on the server about to die, seat 1 on the other one.
            threads = [
                threading.Thread(
                    target=play_resuming, args=([bases[0], bases[1]], created, 0, logs[0], until, 10.0)
                ),
                threading.Thread(target=play_resuming, args=([bases[1]], created, 1, logs[1], until)),
            ]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 60
            while sum(1 for kind, _ in logs[0].seen if kind == "frame") < 60:
                assert time.monotonic() < deadline, f"no frames: {logs[0].seen[-5:]}"
                time.sleep(0.1)
            os.killpg(servers[0].proc.pid, signal.SIGKILL)
            servers[0].proc.wait(timeout=30)
            for thread in threads:
                thread.join(150)
            for log in logs:
                assert log.end is not None, f"no end: {log.seen[-8:]}"
                assert log.end["result"]["reason"] == "time"
            assert [m["seat"] for m in logs[0].seats] == [0, 0], "one resume, on the same seat"
            assert logs[0].seats[0]["resume"] == logs[0].seats[1]["resume"]
            (lost,), (resumed,) = logs[0].lost_at, logs[0].resumed_at
            assert resumed > lost + 100, "the match went on while the player was away"
            assert any(p["away"] and p["away"][0][0] == 0 for p in logs[1].phases), "seat 1 saw seat 0 away"
            assert logs[1].phases[-1]["present"] == [0, 1], "and back"
            end = logs[0].end
            assert end is not None
            ranking = end["result"]["ranking"]
            assert not any(e.get("ff") for e in ranking), "nobody forfeited"
            rows = query(db_url, "SELECT status FROM match_match", ())
            assert rows == [("finished",)], "one match, one result"
            assert worker.proc.poll() is None, "\n".join(worker.lines[-30:])
        finally:
            for process in reversed(processes):
                process.stop()


class Watcher:
    """A player that reads every message of its seat with its arrival time, and steers a bit."""

    def __init__(self, base: str, created: dict[str, Any], seat: int) -> None:
        self.seat = seat
        self.seen: list[tuple[str, int, float]] = []  # kind, tick, monotonic arrival
        self.end: dict[str, Any] | None = None
        self.sock = match_socket(base, created, seat)
        self.sock.settimeout(5)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        seq, until = 0, time.monotonic() + 150
        while time.monotonic() < until and self.end is None:
            try:
                opcode, data = self.sock.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                continue
            except (OSError, websocket.WebSocketException):
                return
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return
            if opcode != websocket.ABNF.OPCODE_BINARY:
                continue
            message = msgpack.unpackb(data)
            self.seen.append((message["t"], message.get("tick", -1), time.monotonic()))
            if message["t"] == "end":
                self.end = message
            elif message["t"] == "frame" and message["tick"] % 4 == 0:
                seq += 1
                self.sock.send_binary(an_input(seq, mx=1 if seq % 20 < 10 else -1, fire=seq % 3 == 0))

    def frames(self) -> int:
        return sum(1 for kind, _, _ in self.seen if kind == "frame")

    def ticks_missed(self) -> int:
        ticks = {tick for kind, tick, _ in self.seen if kind in {"frame", "snapshot"}}
        return len(set(range(min(ticks), max(ticks) + 1)) - ticks)

    def longest_stall(self) -> float:
        times = [at for kind, _, at in self.seen if kind == "frame"]
        return max(b - a for a, b in itertools.pairwise(times))


TOOK_OVER = re.compile(r"took match (\S+) over from (\S+) at tick (\d+)")


def test_a_killed_tick_worker_s_match_is_taken_over_and_ends_with_one_result(db_url):
    """SIGKILL the tick worker owning a match, twice: each time another one takes the match
    over from its checkpoint and logged inputs; the players see a stall, then frames again;
    the match plays its full time and records one result."""
    processes: list[Process] = []
    with redis_of_our_own(db_url, LOG_LEVEL="INFO") as (_redis, env):
        try:
            workers = [Process(manage("runworker", "match-tick"), env) for _ in range(3)]
            processes.extend(workers)
            server = Process(manage("serve", "--port", "0", "--no-worker"), env)
            processes.append(server)
            base = server.wait_for(READY).group(1)
            created = create_match(base, players=2, time_limit=30)
            match_id = created["id"]
            players = [Watcher(base, created, seat) for seat in (0, 1)]
            alive = list(workers)
            for kill in range(2):
                deadline = time.monotonic() + 60
                while players[0].frames() < 60 * (kill + 1):
                    assert time.monotonic() < deadline, f"no frames: {players[0].seen[-5:]}"
                    time.sleep(0.1)
                owner = next(
                    w
                    for w in alive
                    if any(
                        f"owns match {match_id}" in line or f"took match {match_id}" in line
                        for line in w.lines
                    )
                )
                os.killpg(owner.proc.pid, signal.SIGKILL)
                owner.proc.wait(timeout=30)
                alive.remove(owner)
                deadline = time.monotonic() + 30
                while sum(1 for w in workers for line in list(w.lines) if TOOK_OVER.search(line)) < kill + 1:
                    assert time.monotonic() < deadline, "no tick worker took the match over:\n" + "\n".join(
                        f"{i} {line}" for i, w in enumerate(workers) for line in w.lines[-15:]
                    )
                    time.sleep(0.1)
            for player in players:
                player.thread.join(120)
                assert player.end is not None, f"no end: {player.seen[-8:]}"
                assert player.end["result"]["reason"] in {"time", "score"}
                assert player.ticks_missed() <= 2 * 20, f"frames lost: {player.ticks_missed()}"
            rows = query(db_url, "SELECT status, ticks FROM match_match", ())
            assert len(rows) == 1
            assert rows[0][0] == "finished", "one result, not an abort"
            end = players[0].end
            assert end is not None
            if end["result"]["reason"] == "time":
                assert rows[0][1] == 30 * 20, "the whole match was played, across both takeovers"
            takeovers = [m for w in workers for line in w.lines if (m := TOOK_OVER.search(line))]
            assert len(takeovers) == 2, takeovers
            for player in players:
                print(
                    f"\nseat {player.seat}: longest stall {player.longest_stall():.2f} s, "
                    f"{player.ticks_missed()} ticks never seen"
                )
        finally:
            for process in reversed(processes):
                process.stop()


def test_a_stopping_tick_worker_hands_its_match_to_another_one(db_url):
    """SIGTERM (a rolling restart): the owner checkpoints, releases the lease and exits 0; the
    other worker resumes the match at once, from the very tick it stopped at."""
    processes: list[Process] = []
    with redis_of_our_own(db_url, LOG_LEVEL="INFO") as (_redis, env):
        try:
            workers = [Process(manage("runworker", "match-tick"), env) for _ in range(2)]
            processes.extend(workers)
            server = Process(manage("serve", "--port", "0", "--no-worker"), env)
            processes.append(server)
            base = server.wait_for(READY).group(1)
            for worker in workers:
                worker.wait_for(re.compile(r"Running worker"))
            created = create_match(base, players=2, time_limit=20)
            players = [Watcher(base, created, seat) for seat in (0, 1)]
            deadline = time.monotonic() + 60
            while players[0].frames() < 60:
                assert time.monotonic() < deadline, f"no frames: {players[0].seen[-5:]}"
                time.sleep(0.1)
            owner = next(w for w in workers if any(f"owns match {created['id']}" in line for line in w.lines))
            heir = next(w for w in workers if w is not owner)
            os.killpg(owner.proc.pid, signal.SIGTERM)
            assert owner.proc.wait(timeout=60) == 0, "\n".join(owner.lines[-20:])
            assert any("handed 1 matches over" in line for line in owner.lines), "\n".join(owner.lines[-20:])
            handed = re.search(r"handed over at tick (\d+)", "\n".join(owner.lines))
            took = heir.wait_for(TOOK_OVER, timeout=30)
            assert handed is not None
            assert took.group(3) == handed.group(1), "resumed from the tick it was handed over at"
            for player in players:
                player.thread.join(120)
                assert player.end is not None, f"no end: {player.seen[-8:]}"
                assert player.ticks_missed() <= 20
            [(status, ticks)] = query(db_url, "SELECT status, ticks FROM match_match", ())
            assert status == "finished", "one result, not an abort"
            end = players[0].end
            assert end is not None
            if end["result"]["reason"] == "time":
                assert ticks == 20 * 20, "the whole match was played"
        finally:
            for process in reversed(processes):
                process.stop()


def test_a_message_over_the_server_s_cap_is_answered_with_close_1009(server):
    """The client learns why: a close frame 1009 (Message Too Big), not a silent drop."""
    created = create_match(server, players=2, time_limit=30)
    sock = match_socket(server, created, 0)
    next_message(sock, "snapshot")
    sock.send_binary(OVERSIZED)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        opcode, data = sock.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            assert int.from_bytes(data[:2], "big") == 1009
            break
    else:
        raise AssertionError("no close frame")
    sock.shutdown()


def test_a_client_that_answers_the_close_late_still_gets_end_and_its_writes_do_not_fail(server):
    """A client busy for a few seconds as the match ends (a loaded load generator, a tab in the
    background): the server waits for its answer to the close frame instead of resetting the
    connection after autobahn's 1 s, so the inputs it still sends do not fail, and ``end`` and
    close 1000 are there when it reads again."""
    created = create_match(server, players=2, time_limit=5)
    slow, quick = match_socket(server, created, 0), match_socket(server, created, 1)
    try:
        next_message(slow, "snapshot")
        quick_log = next_message(quick, "end", timeout=120)  # the match is over: slow's end is sent
        assert quick_log["result"]["reason"] != "aborted"
        failed = ""
        for seq in range(1, 41):  # 4 s of inputs, nothing read
            try:
                slow.send_binary(an_input(seq))
            except (websocket.WebSocketException, OSError) as exc:
                failed = f"input {seq}: {type(exc).__name__} {exc}"
                break
            time.sleep(0.1)
        assert not failed, f"the server reset the connection while the client was busy: {failed}"
        kinds, code = [], None
        while code is None:
            opcode, data = slow.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big")
            elif opcode == websocket.ABNF.OPCODE_BINARY:
                kinds.append(msgpack.unpackb(data)["t"])
        assert kinds[-1] == "end", kinds[-5:]
        assert code == 1000
    finally:
        slow.shutdown()
        quick.shutdown()


def test_a_request_dribbled_byte_by_byte_is_cut_off(db_url):
    """Slowloris: a header line every half second keeps Twisted's idle timer happy forever;
    the request deadline (HTTP_REQUEST_TIMEOUT) cuts it, and honest requests go on."""
    env = server_env(DATABASE_URL=db_url, HTTP_REQUEST_TIMEOUT="2")
    migrate = Process(manage("migrate", "--noinput", "-v", "0"), env)
    assert migrate.proc.wait(timeout=120) == 0, "\n".join(migrate.lines)
    process = Process(manage("serve", "--port", "0"), env)
    try:
        base = process.wait_for(READY).group(1)
        host, port = base.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=30) as slow:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            started = time.monotonic()
            cut = False
            for i in range(60):  # 30 s of dribbling at most
                try:
                    slow.sendall(f"X-Drip-{i}: a\r\n".encode())
                    slow.settimeout(0.5)
                    if slow.recv(1) == b"":
                        cut = True
                        break
                except TimeoutError:
                    continue
                except OSError:
                    cut = True
                    break
            assert cut, "the dribbling request was never cut off"
            assert time.monotonic() - started < 30
        with urllib.request.urlopen(base + "/healthz", timeout=10) as response:
            assert response.status == 200
    finally:
        process.stop()
