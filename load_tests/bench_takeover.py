"""Takeover benchmark: SIGKILL the tick worker that owns a running match, again and again, and
measure how long the match is gone and what its players miss.

Starts ``serve --no-worker``, two ``runworker match-tick`` processes (a fresh one replaces each
killed owner, so two are always up) and, unless REDIS_URL is set, a private redis-server; a
database of its own. Two players (real WebSocket clients, steering and firing) play one match
through all the kills. Per kill it prints: kill -> "took over" seen in the heir's log, the
longest gap between frames each player saw, ticks never delivered and ticks replayed twice
(the heir resumes from the last logged tick, at most LOG_FLUSH_TICKS behind what was sent).

    python -m load_tests.bench_takeover --kills 10
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import msgpack
import websocket

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"Game server running at (http://\S+?)/? ")
TOOK_OVER = re.compile(r"took match (\S+) over from (\S+) at tick (\d+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Proc:
    """A child process whose output lines are kept, each with its arrival time."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[tuple[float, str]] = []
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait_for(
        self, pattern: re.Pattern[str], timeout: float = 90.0, after: float = 0.0
    ) -> tuple[float, re.Match[str]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, line in list(self.lines):
                if at >= after and (found := pattern.search(line)):
                    return at, found
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(
            f"{pattern.pattern!r} not seen:\n" + "\n".join(line for _, line in self.lines[-30:])
        )

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self) -> None:
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


class Player:
    """One seat: frames with their arrival times; steers and fires every fourth tick."""

    def __init__(self, base: str, match_id: str, ticket: str, seat: int) -> None:
        url = base.replace("http://", "ws://") + f"/ws/match/{match_id}/?ticket={ticket}"
        self.sock = websocket.create_connection(url, timeout=5, origin=base)
        self.seat = seat
        self.frames: list[tuple[float, int]] = []  # arrival, tick (snapshots too)
        self.end: dict[str, Any] | None = None
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        seq = 0
        while self.end is None:
            try:
                opcode, data = self.sock.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                continue
            except (OSError, websocket.WebSocketException):
                return
            if opcode != websocket.ABNF.OPCODE_BINARY:
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    return
                continue
            message = msgpack.unpackb(data)
            if message["t"] in {"frame", "snapshot"}:
                self.frames.append((time.monotonic(), message["tick"]))
            if message["t"] == "end":
                self.end = message
            elif message["t"] == "frame" and message["tick"] % 4 == 0:
                seq += 1
                fields = {
                    "t": "input",
                    "seq": seq,
                    "mx": 1 if seq % 20 < 10 else -1,
                    "my": 0,
                    "aim": 0,
                    "fire": seq % 3 == 0,
                }
                self.sock.send_binary(msgpack.packb(fields))

    def around(self, start: float, end: float) -> tuple[float, int, int]:
        """Longest frame gap, ticks never seen and ticks seen twice, for frames in [start, end]."""
        window = [(at, tick) for at, tick in self.frames if start <= at <= end]
        gap = max((b[0] - a[0] for a, b in itertools.pairwise(window)), default=0.0)
        ticks = [tick for _, tick in window]
        if not ticks:
            return gap, 0, 0
        missed = len(set(range(min(ticks), max(ticks) + 1)) - set(ticks))
        return gap, missed, len(ticks) - len(set(ticks))


def create_match(base: str, time_limit: int) -> dict[str, Any]:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(base + "/", timeout=10).read()
    token = next(c.value for c in jar if c.name == "csrftoken")
    request = urllib.request.Request(
        base + "/api/matches/",
        data=json.dumps({"players": 2, "time_limit": time_limit}).encode(),
        headers={"Content-Type": "application/json", "X-CSRFToken": token or "", "Referer": base + "/"},
        method="POST",
    )
    with opener.open(request, timeout=10) as response:
        created: dict[str, Any] = json.loads(response.read())
    return created


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--play-seconds", type=float, default=3.0, help="play between takeover and next kill")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="bench-takeover-"))
    procs: list[Proc] = []
    redis_proc: subprocess.Popen[bytes] | None = None
    try:
        redis_url = os.environ.get("REDIS_URL", "")
        if not redis_url:
            port = free_port()
            binary = shutil.which("redis-server") or sys.exit("redis-server not found and REDIS_URL not set")
            redis_proc = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(workdir),
                ],
                stdout=subprocess.DEVNULL,
            )
            redis_url = f"redis://127.0.0.1:{port}/0"
        db = workdir / "bench.sqlite3"
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL"}}
        env.update(
            DEBUG="1",
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
            DATABASE_URL=f"sqlite:///{db}",
            REDIS_URL=redis_url,
            CHANNEL_LAYER_PREFIX=f"bench-{uuid.uuid4().hex[:8]}",
        )
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        workers = [Proc([*manage, "runworker", "match-tick"], env) for _ in range(2)]
        procs.extend(workers)
        server = Proc([*manage, "serve", "--port", "0", "--no-worker"], env)
        procs.append(server)
        base = server.wait_for(READY)[1].group(1)
        for worker in workers:
            worker.wait_for(re.compile("Running worker"))
        time_limit = int(args.kills * (args.play_seconds + 5) + 15)
        created = create_match(base, time_limit)
        match_id = created["id"]
        players = [Player(base, match_id, t["ticket"], t["seat"]) for t in created["tickets"]]
        time.sleep(args.play_seconds + 2)
        rows: list[tuple[float, float, int, int]] = []
        for kill in range(args.kills):
            owner = next(
                w
                for w in reversed(workers)
                if w.proc.poll() is None
                and any(
                    f"owns match {match_id}" in line or f"took match {match_id}" in line
                    for _, line in w.lines
                )
            )
            killed_at = time.monotonic()
            owner.signal(signal.SIGKILL)
            owner.proc.wait(timeout=30)
            replacement = Proc([*manage, "runworker", "match-tick"], env)
            workers.append(replacement)
            procs.append(replacement)
            took_at = _first_takeover(workers, killed_at)
            time.sleep(args.play_seconds)
            stats = [p.around(killed_at - 1, time.monotonic()) for p in players]
            gap = max(s[0] for s in stats)
            missed = max(s[1] for s in stats)
            replayed = max(s[2] for s in stats)
            rows.append((took_at - killed_at, gap, missed, replayed))
            print(
                f"kill {kill + 1:2d}: taken over {took_at - killed_at:5.2f} s after the SIGKILL; "
                f"players' longest frame gap {gap:5.2f} s; ticks never seen {missed}; "
                f"ticks seen twice {replayed}",
                flush=True,
            )
        deadline = time.monotonic() + time_limit + 30
        while not all(p.end for p in players) and time.monotonic() < deadline:
            time.sleep(0.2)
        with sqlite3.connect(db) as conn:
            results = conn.execute("SELECT status, ticks FROM match_match").fetchall()
        takeovers = [r[0] for r in rows]
        gaps = [r[1] for r in rows]
        print(
            f"\n{len(rows)} kills: takeover after SIGKILL median {statistics.median(takeovers):.2f} s, "
            f"max {max(takeovers):.2f} s (lease {env.get('MATCH_LEASE_MS', '3000')} ms); "
            f"frame gap median {statistics.median(gaps):.2f} s, max {max(gaps):.2f} s; "
            f"ticks never seen per kill max {max(r[2] for r in rows)}; "
            f"ticks seen twice per kill max {max(r[3] for r in rows)}"
        )
        ends = [p.end["result"]["reason"] if p.end else None for p in players]
        print(f"match rows (status, ticks): {results}; ends seen by the players: {ends}")
        return 0 if len(results) == 1 and results[0][0] == "finished" else 1
    finally:
        for proc in reversed(procs):
            proc.stop()
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def _first_takeover(workers: list[Proc], after: float, timeout: float = 30.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        times = [at for w in workers for at, line in list(w.lines) if at >= after and TOOK_OVER.search(line)]
        if times:
            return min(times)
        time.sleep(0.02)
    raise RuntimeError("no tick worker took the match over")


if __name__ == "__main__":
    sys.exit(main())
