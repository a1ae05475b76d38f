"""Helpers for end-to-end tests: real server processes, real WebSocket clients, real inputs."""

from __future__ import annotations

import http.cookiejar
import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
import msgpack
import websocket

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"Game server running at (http://\S+?)/? ")


@contextmanager
def database_url(tmp_path: Path) -> Iterator[str]:
    """A database of this test's own: SQLite in tmp_path, or a new PostgreSQL database when
    DATABASE_URL points at a PostgreSQL server (dropped afterwards)."""
    given = os.environ.get("DATABASE_URL", "")
    if not given.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{tmp_path / 'e2e.sqlite3'}"
        return
    import psycopg

    name = f"test_e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(given, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(given)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(given, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def query(db_url: str, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    config = dj_database_url.parse(db_url)
    if "sqlite" in config["ENGINE"]:
        with sqlite3.connect(config["NAME"]) as conn:
            return conn.execute(sql.replace("%s", "?"), params).fetchall()
    import psycopg

    with psycopg.connect(db_url) as conn:
        return conn.execute(sql, params).fetchall()


class Process:
    """A child process whose output is collected by a thread (so its pipe never fills)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 90.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if found := pattern.search(line):
                    return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{pattern.pattern!r} not seen; output:\n" + "\n".join(self.lines[-40:]))

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


@contextmanager
def served(env: dict[str, str]) -> Iterator[tuple[Process, str]]:
    """A migrated database and one ``manage.py serve`` on a free port: (the process, its URL).
    It must still be running when the test is done; it is stopped either way."""
    migrate = Process(manage("migrate", "--noinput", "-v", "0"), env)
    assert migrate.proc.wait(timeout=120) == 0, "\n".join(migrate.lines)
    server = Process(manage("serve", "--port", "0"), env)
    try:
        yield server, server.wait_for(READY).group(1)
        assert server.proc.poll() is None, "the server died:\n" + "\n".join(server.lines[-30:])
    finally:
        server.stop()


def server_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "PYTEST_CURRENT_TEST"}
    }
    env.update({"DEBUG": "1", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1", **extra})
    return env


def manage(*args: str) -> list[str]:
    return [sys.executable, "manage.py", *args]


def create_match(base_url: str, **body: Any) -> dict[str, Any]:
    """Create a match over HTTP the way the page does: CSRF cookie first, then the POST."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(base_url + "/", timeout=10).read()
    token = next(c.value for c in jar if c.name == "csrftoken" and c.value)
    assert token is not None
    request = urllib.request.Request(
        base_url + "/api/matches/",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-CSRFToken": token, "Referer": base_url + "/"},
        method="POST",
    )
    with opener.open(request, timeout=10) as response:
        assert response.status == 201
        created: dict[str, Any] = json.loads(response.read())
        return created


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@dataclass
class PlayerLog:
    seat: int
    snapshot: dict[str, Any] | None = None
    frame_ticks: list[int] = field(default_factory=list)
    ends: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    inputs_sent: int = 0
    max_ack: int = 0
    close_code: int | None = None


def play(
    base_url: str, match_id: str, ticket: str, seat: int, deadline: float, header: list[str] | None = None
) -> PlayerLog:
    """One real player: aims at the nearest enemy, strafes, fires, until the match ends.

    ``header``: credentials for matchmade tickets, which only their own account may use."""
    log = PlayerLog(seat=seat)
    ws_url = base_url.replace("http://", "ws://") + f"/ws/match/{match_id}/?ticket={ticket}"
    sock = websocket.create_connection(ws_url, timeout=5, origin=base_url, header=header or [])
    players: dict[int, dict[str, Any]] = {}
    seq = 0
    server_closed = False
    try:
        while time.monotonic() < deadline:
            opcode, data = sock.recv_data()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                server_closed = True
                log.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                break
            assert opcode == websocket.ABNF.OPCODE_BINARY, f"non-binary frame {opcode}"
            message = msgpack.unpackb(data)
            kind = message["t"]
            if kind == "snapshot":
                log.snapshot = message
                players = {p["s"]: dict(p) for p in message["state"]["players"]}
            elif kind == "frame":
                log.frame_ticks.append(message["tick"])
                for change in message["d"].get("p", []):
                    players[change["s"]].update(change)
                log.max_ack = max(log.max_ack, message["acks"][seat])
                if message["tick"] % 2 == 0:
                    seq += 1
                    sock.send_binary(msgpack.packb(steer(players, seat, seq, message["tick"])))
                    log.inputs_sent += 1
            elif kind == "end":
                log.ends.append(message)
            elif kind == "error":
                log.errors.append(message)
    except websocket.WebSocketConnectionClosedException:
        pass
    finally:
        # After the server's close frame (which websocket-client already answered) a second
        # close handshake would write to a socket the server has dropped: reset by peer.
        if server_closed:
            sock.shutdown()
        else:
            sock.close()
    return log


def refusal(base_url: str, path: str) -> tuple[dict[str, Any], int | None]:
    """Connect to a path that should be refused: the error message and the close code."""
    sock = websocket.create_connection(
        base_url.replace("http://", "ws://") + path, timeout=5, origin=base_url
    )
    try:
        error = msgpack.unpackb(sock.recv())
        opcode, data = sock.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        return error, int.from_bytes(data[:2], "big") if len(data) >= 2 else None
    finally:
        sock.close()


def steer(players: dict[int, dict[str, Any]], seat: int, seq: int, tick: int) -> dict[str, Any]:
    me = players[seat]
    enemies = [p for s, p in players.items() if s != seat and p.get("al", True)]
    aim = 0
    if enemies:
        target = min(enemies, key=lambda p: (p["x"] - me["x"]) ** 2 + (p["y"] - me["y"]) ** 2)
        aim = round(math.atan2(target["y"] - me["y"], target["x"] - me["x"]) / (2 * math.pi) * 4096) & 4095
    strafe = 1 if (tick // 20) % 2 == 0 else -1
    return {"t": "input", "seq": seq, "mx": strafe, "my": -strafe, "aim": aim, "fire": True}


def play_all(base_urls: list[str], created: dict[str, Any], timeout: float) -> list[PlayerLog]:
    """Every seat played at once, seat i on base_urls[i % len(base_urls)]."""
    deadline = time.monotonic() + timeout
    logs: list[PlayerLog | None] = [None] * len(created["tickets"])

    def run(index: int, ticket: dict[str, Any]) -> None:
        logs[index] = play(
            base_urls[index % len(base_urls)], created["id"], ticket["ticket"], ticket["seat"], deadline
        )

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(created["tickets"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + 5)
    assert all(log is not None for log in logs), "a player thread died"
    return [log for log in logs if log is not None]


class LobbyClient:
    """A signed-in player's real lobby socket (websocket-client), with the credentials it used."""

    def __init__(self, base_url: str, header: list[str]) -> None:
        self.base_url = base_url
        self.header = header
        self.sock = websocket.create_connection(
            base_url.replace("http://", "ws://") + "/ws/lobby/", timeout=10, origin=base_url, header=header
        )
        self.seen: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.sock.send_binary(msgpack.packb(message))

    def expect(self, kind: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """The next message of type ``kind`` whose fields match; earlier ones are kept in ``seen``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                # Control frames come back too: the server's pings (every 20 s) would otherwise
                # be answered inside one recv that never times out, and the deadline never checked.
                opcode, data = self.sock.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                break
            if opcode in (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG):
                continue
            assert opcode == websocket.ABNF.OPCODE_BINARY, f"non-binary frame {opcode}"
            message: dict[str, Any] = msgpack.unpackb(data)
            self.seen.append(message)
            if message["t"] == kind and all(message.get(k) == v for k, v in fields.items()):
                return message
        raise AssertionError(f"no {kind} {fields} within {timeout}s; saw {[m['t'] for m in self.seen[-15:]]}")

    def close(self) -> None:
        self.sock.close()


def post_json(
    base_url: str, path: str, body: dict[str, Any], opener: urllib.request.OpenerDirector | None = None
) -> tuple[int, Any]:
    """POST JSON; with an opener that holds a session, send its CSRF token the way a page does."""
    headers = {"Content-Type": "application/json", "Referer": base_url + "/"}
    jar = getattr(opener, "jar", None)
    if jar is not None:
        headers["X-CSRFToken"] = next(c.value for c in jar if c.name == "csrftoken" and c.value)
    request = urllib.request.Request(
        base_url + path, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        text = exc.read()
        try:
            return exc.code, json.loads(text)
        except ValueError:
            return exc.code, text.decode(errors="replace")[:2000]


def browser_session(base_url: str) -> urllib.request.OpenerDirector:
    """An opener with a cookie jar that has visited the page (so it holds the CSRF cookie)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.jar = jar  # type: ignore[attr-defined]
    opener.open(base_url + "/", timeout=10).read()
    return opener


def cookie_header(opener: urllib.request.OpenerDirector) -> list[str]:
    jar = opener.jar  # type: ignore[attr-defined]
    return ["Cookie: " + "; ".join(f"{c.name}={c.value}" for c in jar)]
