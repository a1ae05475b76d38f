"""`make cluster` as real processes: `manage.py cluster` starts two servers, two tick workers and
the matchmaker; 20 players split over both servers meet in one lobby, play their matches to the
end, and every result is stored once. It stops cleanly on a signal, with the Redis it started."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.e2e import (
    LobbyClient,
    PlayerLog,
    Process,
    database_url,
    get_json,
    manage,
    play,
    post_json,
    query,
    server_env,
)

MATCH_SECONDS = 8
RECV_SLICE = 5.0  # seconds: below Daphne's 20 s keepalive ping interval (see expect_each)
PLAYERS = 20
NAMES = [f"pilot{c}" for c in "abcdefghjkmnopqrstuw"]  # no i/l: look-alike names are refused
SUMMARY_END = re.compile(r"^Ctrl-C stops the cluster")
SERVER_LINE = re.compile(r"^Game server running at (http://\S+?)/ \((server-\d+), pid (\d+)\)")
REDIS_LINE = re.compile(r"^Redis: (\S+) \((.*)\)$")
PRIVATE_REDIS = re.compile(r"private redis-server, pid (\d+), dir (\S+)")
WORKER_LINE = re.compile(r"^(tick-\d+|matchmaker): pid (\d+)$")


@dataclass
class Cluster:
    """A running `manage.py cluster` and what its summary says about it."""

    process: Process
    servers: list[str] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)
    redis_url: str = ""
    redis_how: str = ""

    @property
    def private_redis(self) -> tuple[int, str] | None:
        found = PRIVATE_REDIS.search(self.redis_how)
        return (int(found.group(1)), found.group(2)) if found else None

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Signal the cluster command alone (its children have their own process groups)."""
        proc = self.process.proc
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.process.reader.join(10)
        return proc.returncode

    def kill_leftovers(self) -> None:
        """Last resort after a failed stop: the children it named are this test's processes."""
        private = self.private_redis
        for pid in [*self.pids.values(), *([private[0]] if private else [])]:
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def start_cluster(env: dict[str, str], *args: str) -> Cluster:
    cluster = Cluster(Process(manage("cluster", "--port", "0", *args), env))
    cluster.process.wait_for(SUMMARY_END, timeout=90)
    for line in cluster.process.lines:
        if found := SERVER_LINE.match(line):
            cluster.servers.append(found.group(1))
            cluster.pids[found.group(2)] = int(found.group(3))
        elif found := REDIS_LINE.match(line):
            cluster.redis_url, cluster.redis_how = found.group(1), found.group(2)
        elif found := WORKER_LINE.match(line):
            cluster.pids[found.group(1)] = int(found.group(2))
    return cluster


def port_open(url: str) -> bool:
    host, port = url.split("//")[1].split("/")[0].rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            return True
    except OSError:
        return False


def as_uuid(value: Any) -> str:
    """Match ids as the protocol writes them (SQLite stores them as bare hex)."""
    return str(uuid.UUID(str(value)))


@dataclass
class Player:
    """One of the 20: its account, which server (0: server-1, 1: server-2) it uses, its sockets."""

    id: int
    server: int
    base: str
    header: list[str]
    lobby: LobbyClient
    ready: dict[str, Any] = field(default_factory=dict)
    log: PlayerLog | None = None


def expect_each(
    players: list[Player], kind: str, timeout: float = 30.0, **fields: Any
) -> list[dict[str, Any]]:
    """The next ``kind`` message on every player's lobby socket, all within one deadline; a
    failure names every player that missed it.

    Asked for in slices of at most RECV_SLICE seconds: websocket-client answers Daphne's
    keepalive pings (every 20 s) inside one receive, so a longer socket timeout never expires
    on a socket that only gets pings, and ``LobbyClient.expect`` would wait forever."""
    deadline = time.monotonic() + timeout
    got, missing = [], []
    for player in players:
        while True:
            left = deadline - time.monotonic()
            try:
                got.append(player.lobby.expect(kind, timeout=max(0.5, min(left, RECV_SLICE)), **fields))
                break
            except AssertionError as exc:
                if left <= RECV_SLICE or not str(exc).startswith(f"no {kind} "):
                    missing.append(f"player {player.id} on server-{player.server + 1}: {exc}")
                    break
    assert not missing, f"{kind} missing for {len(missing)} of {len(players)} players: {missing[:3]}"
    return got


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    with database_url(tmp_path) as url:
        yield url


def test_twenty_players_on_two_server_processes_are_matched_together_and_every_result_is_stored_once(
    db_url, redis_url, redis_prefix
):
    env = server_env(
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        CHANNEL_LAYER_PREFIX=redis_prefix,
        MATCH_TIME_LIMIT=str(MATCH_SECONDS),
    )
    migrate = Process(manage("migrate", "--noinput", "-v", "0"), env)
    assert migrate.proc.wait(timeout=120) == 0, "\n".join(migrate.lines)
    cluster = start_cluster(env)
    players: list[Player] = []
    try:
        assert len(cluster.servers) == 2
        assert len(set(cluster.servers)) == 2, "both servers on their own port"
        assert set(cluster.pids) == {"server-1", "server-2", "tick-1", "tick-2", "matchmaker"}
        assert cluster.redis_url == redis_url
        assert cluster.private_redis is None, "with REDIS_URL set it must not start its own Redis"

        for i, name in enumerate(NAMES):
            base = cluster.servers[i % 2]
            status, body = post_json(base, "/api/auth/token/", {"guest": name})
            assert status == 201, body
            header = [f"Authorization: Bearer {body['token']}"]
            players.append(Player(body["player"]["id"], i % 2, base, header, LobbyClient(base, header)))
        welcomes = expect_each(players, "welcome")
        assert [w["me"]["id"] for w in welcomes] == [p.id for p in players]
        # One lobby across both processes: whoever the matchmaker welcomed last saw everybody.
        assert max(w["online"] for w in welcomes) == PLAYERS
        # Queued one at a time, alternating servers (each join acknowledged before the next): the
        # matchmaker takes the oldest first, so every match mixes the players of both servers.
        for player in players:
            player.lobby.send({"t": "queue_join", "mode": "team"})
            player.lobby.expect("queue", timeout=30, mode="team")
        for player, found in zip(players, expect_each(players, "match_found"), strict=True):
            assert found["mode"] == "team"
            player.lobby.send({"t": "ready", "check": found["check"], "accept": True})
        for player, ready in zip(players, expect_each(players, "match_ready"), strict=True):
            player.ready = ready

        matches: dict[str, list[Player]] = defaultdict(list)
        for player in players:
            matches[player.ready["match"]].append(player)
        assert sorted(len(seated) for seated in matches.values()) == [4] * (PLAYERS // 4)
        for seated in matches.values():
            assert sorted(p.ready["seat"] for p in seated) == [0, 1, 2, 3]
            assert Counter(p.ready["team"] for p in seated) == {0: 2, 1: 2}
        servers = {m: sorted(p.server + 1 for p in seated) for m, seated in matches.items()}
        assert all(s == [1, 1, 2, 2] for s in servers.values()), f"servers of each match's players: {servers}"

        failures: list[str] = []
        deadline = time.monotonic() + MATCH_SECONDS + 40

        def run(player: Player) -> None:
            try:
                r = player.ready
                player.log = play(player.base, r["match"], r["ticket"], r["seat"], deadline, player.header)
            except Exception as exc:
                failures.append(f"{player.id}: {exc!r}")

        threads = [threading.Thread(target=run, args=(p,), daemon=True) for p in players]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(1.0, deadline - time.monotonic() + 5))
        assert not failures, failures
        assert all(p.log is not None for p in players), "a player never finished"

        results: dict[str, dict[str, Any]] = {}
        for player in players:
            log = player.log
            assert log is not None
            assert log.errors == [], (player.id, log.errors)
            assert len(log.ends) == 1, f"{player.id} got {len(log.ends)} end messages"
            assert log.close_code == 1000
            assert log.snapshot is not None
            end_tick = log.ends[0]["tick"]
            expected = list(range(log.snapshot["tick"] + 1, end_tick + 1))
            assert log.frame_ticks == expected, f"{player.id}: frames missing, repeated or out of order"
            results.setdefault(player.ready["match"], log.ends[0]["result"])
            assert log.ends[0]["result"] == results[player.ready["match"]], "one result per match"
        for server in (0, 1):
            acks = {p.id: p.log.max_ack for p in players if p.server == server and p.log}
            assert all(ack > 0 for ack in acks.values()), f"server-{server + 1}'s inputs not applied: {acks}"

        # The result and the ratings are written once per match (the tick worker that owned it).
        deadline = time.monotonic() + 30
        while True:
            rows = query(db_url, "SELECT id, mode, status, result, rated FROM match_match", ())
            stored = {as_uuid(row[0]): row[1:] for row in rows}
            if all(rated for *_, rated in stored.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert set(stored) == set(matches), "exactly the matches that were played"
        for match_id, (mode, status, result, rated) in stored.items():
            assert (mode, status, bool(rated)) == ("team", "finished", True), match_id
            assert (json.loads(result) if isinstance(result, str) else result) == results[match_id]
        changes = query(db_url, "SELECT match_id, user_id, before FROM lobby_ratingchange", ())
        assert sorted((as_uuid(m), u) for m, u, _ in changes) == sorted(
            (p.ready["match"], p.id) for p in players
        ), "one rating change per player and match"
        games = query(db_url, "SELECT games FROM lobby_rating WHERE mode = %s", ("team",))
        assert sorted(g for (g,) in games) == [1] * PLAYERS, "each result applied to the ratings once"

        # ... and pushed to each player's lobby socket, on whichever server it is.
        for player, change in zip(players, expect_each(players, "rating"), strict=True):
            assert (change["mode"], change["match"]) == ("team", player.ready["match"])
            assert change["before"] == 1000
    finally:
        for player in players:
            player.lobby.close()
        code = cluster.stop()
        cluster.kill_leftovers()
        print("\n".join(cluster.process.lines[-100:]))  # shown when the test fails
    assert code == 0, "\n".join(cluster.process.lines[-30:])
    assert not [name for name, pid in cluster.pids.items() if alive(pid)], "children left running"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_without_redis_url_the_cluster_runs_its_own_redis_and_stops_it_on_a_signal(tmp_path, sig):
    env = server_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    cluster = start_cluster(env)
    try:
        private = cluster.private_redis
        assert private is not None, cluster.redis_how
        redis_pid, redis_dir = private
        client = redis.Redis.from_url(cluster.redis_url, socket_timeout=10)
        assert client.ping() is True
        client.close()
        assert Path(redis_dir).is_dir()
        assert len(cluster.servers) == 2
        for base in cluster.servers:
            assert get_json(base + "/healthz") == {"ok": True}
    finally:
        code = cluster.stop(sig)
        cluster.kill_leftovers()
    assert code == 0, "\n".join(cluster.process.lines[-30:])
    assert f"{sig.name}: stopping the cluster" in cluster.process.lines
    stopped = next(line for line in cluster.process.lines if line.startswith("stopped "))
    for name in [*cluster.pids, "redis"]:
        assert f"{name} (pid" in stopped
    assert not port_open(cluster.redis_url), "the private Redis still answers"
    assert not alive(redis_pid)
    assert not Path(redis_dir).exists(), "its data directory is left behind"
    assert not [name for name, pid in cluster.pids.items() if alive(pid)], "children left running"


def test_a_cluster_process_that_dies_is_named_and_the_rest_are_stopped(tmp_path, redis_url, redis_prefix):
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    env = server_env(DATABASE_URL=db, REDIS_URL=redis_url, CHANNEL_LAYER_PREFIX=redis_prefix)
    cluster = start_cluster(env, "--servers", "1", "--workers", "1")
    try:
        os.killpg(cluster.pids["tick-1"], signal.SIGKILL)
        assert cluster.process.proc.wait(timeout=40) != 0
    finally:
        cluster.stop()
        cluster.kill_leftovers()
    cluster.process.wait_for(re.compile(r"tick-1 \(pid \d+\) exited unexpectedly: killed by SIGKILL"), 5)
    assert not [name for name, pid in cluster.pids.items() if alive(pid)], "children left running"
