"""Edge benchmark: real server processes, real WebSocket clients, what the server's CPU pays per frame.

Run ``python -m load_tests.bench_edge`` from the repo root (``make bench-edge``). Each run starts a
fresh server (``manage.py serve`` with Daphne or uvicorn, the raw ``websockets`` reference from
``load_tests.raw_server``, or ``--cluster``) pinned to one core, creates 8-seat matches over HTTP,
and drives every player from ONE uvloop process pinned to the other core. It reports delivery,
tick gaps, lost connections, input-to-state latency, tick jitter, the server's CPU (per core, per
delivered frame, per received input) and RSS, and the client's own CPU so a saturated client is
visible. Rounds are interleaved (round > clients > server > variant) so a slow minute of a shared
machine hits every configuration alike. Results go to a JSON file that ``load_tests.plot_edge``
draws.

Variants: ``duplex`` (inputs at ``--hz`` and frames), ``egress`` (frames only), ``ingress``
(inputs only: product matches get one empty seat so they stay waiting; the raw server runs with
``--no-broadcast``) and ``flood`` (duplex plus one client flooding valid inputs from its own
process: when it is cut off, and what the honest players and the server's RSS saw meanwhile).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import http.cookiejar
import json
import math
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from gameserver import protocol
from match.games.arena.constants import AIM_STEPS, MAX_PLAYERS

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"Game server running at (http://\S+?)/? ")
PRODUCT_SERVERS = ("daphne", "uvicorn")
ALL_SERVERS = (*PRODUCT_SERVERS, "raw")
ALL_VARIANTS = ("duplex", "egress", "ingress", "flood")
SENDING = frozenset({"duplex", "ingress", "flood"})
RECEIVING = frozenset({"duplex", "egress", "flood"})

CONNECT_TIMEOUT = 30.0  # per WebSocket handshake; a loaded server on one core can be slow to accept
READY_TIMEOUT = 120.0  # until every client is in a running match (or synced, for ingress)
START_TIMEOUT = 120.0  # a cold Django start (or a whole cluster) on a busy machine
STOP_GRACE = 10.0  # SIGTERM, then SIGKILL
RSS_EVERY = 0.5
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_MB = 1024 * 1024


# --- processes -------------------------------------------------------------------------------


class Child:
    """A server-side process in its own session, pinned with taskset; a thread keeps its output."""

    def __init__(
        self,
        name: str,
        args: list[str],
        *,
        cwd: Path,
        env: dict[str, str] | None,
        core: int | None,
        grace: float = STOP_GRACE,
    ) -> None:
        self.name = name
        self.grace = grace
        if core is not None:
            args = ["taskset", "-c", str(core), *args]  # taskset execs: the pid stays the server's
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self.lines: deque[str] = deque(maxlen=400)
        self.urls: list[str] = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, name=f"read-{name}", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.rstrip("\n")
            with self.changed:
                self.lines.append(line)
                found = READY.search(line)
                if found and found.group(1) not in self.urls:
                    self.urls.append(found.group(1))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def wait_for(self, count: int, marker: str | None = None, timeout: float = START_TIMEOUT) -> list[str]:
        """The first ``count`` server URLs printed (and, if given, a line containing ``marker``)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                marked = marker is None or any(marker in line for line in self.lines)
                if len(self.urls) >= count and marked:
                    return self.urls[:count]
                if self.proc.poll() is not None and not self.reader.is_alive():
                    raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.tail()}")
                self.changed.wait(min(left, 0.5))

    def tail(self, lines: int = 30) -> str:
        return "\n".join(list(self.lines)[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_GRACE)
        self.reader.join(2)


@dataclass
class ServerSet:
    """What one run started: the base URLs clients use and the processes whose CPU is the server's."""

    urls: list[str]
    children: list[Child] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)  # roots; their descendants count too
    note: str = ""

    def stop(self) -> None:
        # Descendants that live in their own sessions (a cluster's children) are remembered first,
        # so whatever outlives its parent's shutdown is still ours to end.
        leftovers = descendants(self.pids)
        for child in reversed(self.children):
            child.stop()
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def product_env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The product's environment for a run: fresh SQLite, quiet logs, defaults for the limits."""
    dropped = {"REDIS_URL", "DATABASE_URL", "WS_RATE_PER_SEC", "WS_RATE_BURST", "EMBEDDED_WORKER"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        DEBUG="1",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        MATCH_JOIN_TIMEOUT="600",
        # Every benchmark client comes from one address (the default allows 256 per address).
        WS_MAX_PER_ADDRESS="100000",
        WS_IDLE_SECONDS="86400",  # egress-only clients send nothing
        MATCH_CREATE_PER_MIN="1000000",  # every match is created from one address
        MATCH_WAITING_MAX="100000",  # the ingress variant keeps its matches waiting
        DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}",
        **(extra or {}),
    )
    return env


def migrate(repo: Path, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=repo,
        env=env,
        check=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def serve_args(kind: str, *extra: str) -> list[str]:
    """``--server`` is only passed for uvicorn, so an older checkout (Daphne only) still starts."""
    args = [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", "0", *extra]
    return [*args, "--server", kind] if kind != "daphne" else args


def start_product(repo: Path, kind: str, workdir: Path, core: int | None) -> ServerSet:
    env = product_env(workdir)
    migrate(repo, env)
    child = Child(kind, serve_args(kind), cwd=repo, env=env, core=core)
    servers = ServerSet(urls=[], children=[child], pids=[child.proc.pid])
    try:
        servers.urls = child.wait_for(1)
    except BaseException:
        servers.stop()
        raise
    return servers


def start_raw(variant: str, args: argparse.Namespace, core: int | None) -> ServerSet:
    cmd = [
        sys.executable,
        "-m",
        "load_tests.raw_server",
        "--port",
        "0",
        "--clients-per-match",
        str(args.per_match),
        "--hz",
        str(args.hz),
        "--loop",
        args.raw_loop,
    ]
    if variant == "ingress":
        cmd.append("--no-broadcast")
    child = Child("raw", cmd, cwd=ROOT, env=None, core=core)
    servers = ServerSet(urls=[], children=[child], pids=[child.proc.pid])
    try:
        servers.urls = child.wait_for(1)
    except BaseException:
        servers.stop()
        raise
    return servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_redis(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server on port {port} does not answer")
        time.sleep(0.1)


def start_cluster(repo: Path, kind: str, workdir: Path, core: int | None) -> ServerSet:
    """``manage.py cluster`` when the checkout has it, else the same layout started here.

    All of it (Redis included) is pinned to the server core, so the client core stays the clients'
    and the CPU figures compare with a single server's on the same one core.
    """
    env = product_env(workdir)
    migrate(repo, env)
    if (repo / "gameserver" / "management" / "commands" / "cluster.py").exists():
        args = [sys.executable, "manage.py", "cluster", "--port", "0", "--servers", "2", "--workers", "2"]
        if kind != "daphne":
            args += ["--server", kind]
        # It stops its own children in order (up to 10 s each for servers and workers, then Redis).
        child = Child("cluster", args, cwd=repo, env=env, core=core, grace=3 * STOP_GRACE)
        servers = ServerSet(urls=[], children=[child], pids=[child.proc.pid], note="manage.py cluster")
        try:
            servers.urls = child.wait_for(2, marker="Cluster up")
        except BaseException:
            servers.stop()
            raise
        return servers
    port = free_port()
    redis_dir = workdir / "redis"
    redis_dir.mkdir()
    redis_args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    redis_args += ["--appendonly", "no", "--dir", str(redis_dir), "--loglevel", "warning"]
    servers = ServerSet(urls=[], note="own processes (no manage.py cluster)")
    try:
        redis = Child("redis", redis_args, cwd=workdir, env=None, core=core)
        servers.children.append(redis)
        wait_for_redis(port)
        cluster_env = {**env, "REDIS_URL": f"redis://127.0.0.1:{port}/0", "EMBEDDED_WORKER": "0"}
        web = [
            Child(f"server-{i}", serve_args(kind, "--no-worker"), cwd=repo, env=cluster_env, core=core)
            for i in (1, 2)
        ]
        workers = [
            Child(
                name,
                [sys.executable, "manage.py", "runworker", channel],
                cwd=repo,
                env=cluster_env,
                core=core,
            )
            for name, channel in (("tick-1", "match-tick"), ("tick-2", "match-tick"), ("mm", "matchmaker"))
        ]
        servers.children += [*web, *workers]
        servers.pids = [c.proc.pid for c in servers.children]
        servers.urls = [child.wait_for(1)[0] for child in web]
    except BaseException:
        servers.stop()
        raise
    return servers


# --- /proc -----------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on; comm may hold spaces


def descendants(roots: Iterable[int]) -> list[int]:
    """The roots and every process below them (all threads are in their process's figures)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat_fields(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [pid for pid in roots if Path(f"/proc/{pid}").exists()]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """utime + stime per process (threads included)."""
    out: dict[int, float] = {}
    for pid in pids:
        if (fields := _stat_fields(pid)) is not None:
            out[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def rss_bytes(pids: Iterable[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
    return total


def wait_quiet(roots: list[int], timeout: float = START_TIMEOUT) -> float:
    """Wait until the server side idles (under 5% of a core for a second); seconds waited.

    A ready line only says one process listens: a cluster's tick workers may still be importing
    Django, and a player who joins before any worker is up is refused after 10 s (4503).
    """
    began = time.monotonic()
    before = cpu_seconds(descendants(roots))
    while time.monotonic() - began < timeout:
        time.sleep(1.0)
        after = cpu_seconds(descendants(roots))
        if cpu_delta(before, after) < 0.05:
            break
        before = after
    return time.monotonic() - began


def core_busy(cores: Iterable[int]) -> dict[int, float]:
    """Busy seconds per core from /proc/stat (everything but idle and iowait)."""
    wanted = {f"cpu{core}": core for core in cores}
    out: dict[int, float] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name in wanted:
            ticks = [int(v) for v in values[:8]]
            out[wanted[name]] = (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK
    return out


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- matches ---------------------------------------------------------------------------------


@dataclass
class Seat:
    url: str  # ws:// URL with the ticket
    origin: str
    role: str  # "player" or "flooder"


@dataclass
class MatchPlan:
    match_id: str
    seats: int  # seats in the match (one more than players in a product ingress run)
    players: list[Seat]


def split(total: int, size: int) -> list[int]:
    """Groups of ``size`` and a remainder; never a one-player group (matches need two)."""
    if total < 2:
        raise ValueError("a run needs at least 2 clients")
    groups = [size] * (total // size) + ([total % size] if total % size else [])
    if groups[-1] == 1:
        groups[-2] -= 1
        groups[-1] = 2
    return groups


def opener() -> urllib.request.OpenerDirector:
    """Cookies for CSRF, and no proxy from the environment: benchmark traffic stays on 127.0.0.1."""
    jar = http.cookiejar.CookieJar()
    director = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar)
    )
    director.jar = jar  # type: ignore[attr-defined]
    return director


def create_product_matches(base: str, seat_counts: Sequence[int]) -> list[tuple[str, list[str]]]:
    """Create matches the way the page does (CSRF cookie, then the POST); ticket per seat, by seat."""
    http_ = opener()
    http_.open(base + "/", timeout=30).read()
    token = next(c.value for c in http_.jar if c.name == "csrftoken" and c.value)  # type: ignore[attr-defined]
    created: list[tuple[str, list[str]]] = []
    for seats in seat_counts:
        body = json.dumps({"players": seats, "score_limit": 100, "time_limit": 3600}).encode()
        request = urllib.request.Request(
            base + "/api/matches/",
            data=body,
            headers={"Content-Type": "application/json", "X-CSRFToken": token, "Referer": base + "/"},
            method="POST",
        )
        with http_.open(request, timeout=30) as response:
            if response.status != 201:
                raise RuntimeError(f"match creation answered {response.status}")
            answer = json.loads(response.read())
        tickets: list[str] = [""] * seats
        for index, ticket in enumerate(answer["tickets"]):
            if isinstance(ticket, dict):
                tickets[int(ticket["seat"])] = str(ticket["ticket"])
            else:
                tickets[index] = str(ticket)
        created.append((str(answer["id"]), tickets))
    return created


def plan_matches(
    urls: Sequence[str], clients: int, variant: str, raw: bool, per_match: int
) -> list[MatchPlan]:
    """Seat the clients, match by match; seat i of a match goes to server ``i % len(urls)``.

    Product ingress: one seat per match stays empty so the match never starts; with 8 players
    per match that needs 9 seats, above the arena's maximum, so such matches hold 7 players.
    Flood: the flooder takes the last seat of the first match, so N clients are N - 1 honest ones
    and the match layout is the duplex one.
    """
    if raw or variant != "ingress":
        sizes = split(clients, per_match)
        seat_counts = sizes
    else:
        sizes = split(clients, min(per_match, MAX_PLAYERS - 1))
        seat_counts = [size + 1 for size in sizes]
    if raw:
        created = [(str(uuid.uuid4()), ["raw"] * seats) for seats in seat_counts]
    else:
        created = create_product_matches(urls[0], seat_counts)
    plans: list[MatchPlan] = []
    for index, ((match_id, tickets), size) in enumerate(zip(created, sizes, strict=True)):
        players = []
        for seat in range(size):
            base = urls[seat % len(urls)]
            query = f"ticket={tickets[seat]}" + (f"&players={len(tickets)}" if raw else "")
            role = "flooder" if variant == "flood" and index == 0 and seat == size - 1 else "player"
            ws_url = base.replace("http://", "ws://", 1) + f"/ws/match/{match_id}/?{query}"
            players.append(Seat(url=ws_url, origin=base, role=role))
        plans.append(MatchPlan(match_id=match_id, seats=len(tickets), players=players))
    return plans


# --- clients ---------------------------------------------------------------------------------


@dataclass
class Window:
    """The measured interval, on the client's monotonic clock."""

    start: float = math.inf
    end: float = math.inf

    def inside(self, t: float) -> bool:
        return self.start <= t < self.end


async def open_socket(url: str, origin: str) -> ClientConnection:
    return await connect(
        url,
        origin=Origin(origin),
        compression=None,
        proxy=None,
        open_timeout=CONNECT_TIMEOUT,
        ping_interval=None,
        close_timeout=STOP_GRACE,
        max_size=4 * 1024 * 1024,
        max_queue=64,
    )


@dataclass
class Client:
    """One player: counts what it receives, sends inputs if the variant does, times the acks."""

    index: int
    url: str
    origin: str
    sends: bool
    track_acks: bool
    rng: random.Random
    ws: ClientConnection | None = None
    seat: int = -1
    connect_error: str | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    running: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    closing: bool = False
    lost_code: int | None = None
    lost_in_window: bool = False
    ended: bool = False
    last_tick: int | None = None
    last_frame_at: float | None = None
    snapshots: int = 0
    # in the window:
    frames: int = 0
    frame_bytes: int = 0
    gaps: int = 0
    resyncs: int = 0
    sent: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    jitter: list[float] = field(default_factory=list)
    pending: deque[tuple[int, float]] = field(default_factory=deque)
    seq: int = 0

    async def settled(self, receives: bool) -> None:
        """Until playing (first frame; for ingress the snapshot) or past hope (refused, cut off)."""
        ready = self.running if receives else self.synced
        waits = {asyncio.ensure_future(ready.wait()), asyncio.ensure_future(self.finished.wait())}
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for waiting in pending:
            waiting.cancel()

    async def run(self, window: Window, hz: int) -> None:
        try:
            try:
                self.ws = await open_socket(self.url, self.origin)
            except Exception as exc:
                self.connect_error = f"{type(exc).__name__}: {exc}"
                return
            finally:
                self.connected.set()
            sender = asyncio.create_task(self.send_inputs(window, hz)) if self.sends else None
            try:
                await self.receive(self.ws, window, 1.0 / hz)
            finally:
                if sender is not None:
                    sender.cancel()
        finally:
            self.finished.set()

    async def receive(self, ws: ClientConnection, window: Window, period: float) -> None:
        unpack = msgpack.unpackb
        try:
            while True:
                data = await ws.recv()
                now = time.monotonic()
                if isinstance(data, str):
                    self.errors["text frame"] += 1
                    continue
                message = unpack(data)
                kind = message.get("t")
                if kind == protocol.FRAME:
                    tick = message["tick"]
                    if window.inside(now):
                        self.frames += 1
                        self.frame_bytes += len(data)
                        if self.last_tick is not None and tick != self.last_tick + 1:
                            self.gaps += 1
                        elif self.last_frame_at is not None:
                            self.jitter.append(abs(now - self.last_frame_at - period))
                    self.last_tick = tick
                    self.last_frame_at = now
                    if self.track_acks and self.seat >= 0:
                        ack = message["acks"][self.seat]
                        pending = self.pending
                        while pending and pending[0][0] <= ack:
                            _, sent_at = pending.popleft()
                            if window.inside(sent_at) and window.inside(now):
                                self.latencies.append(now - sent_at)
                    if not self.running.is_set():
                        self.running.set()
                elif kind == protocol.SNAPSHOT:
                    self.snapshots += 1
                    if self.snapshots > 1 and window.inside(now):
                        self.resyncs += 1
                    self.seat = message["seat"]
                    self.last_tick = message["tick"]
                    self.last_frame_at = None
                    self.synced.set()
                elif kind == protocol.ERROR:
                    if window.inside(now):
                        self.errors[str(message.get("code"))] += 1
                elif kind == protocol.END:
                    self.ended = True
        except ConnectionClosed as exc:
            if not self.closing:
                self.lost_code = exc.rcvd.code if exc.rcvd is not None else 1006
                self.lost_in_window = window.inside(time.monotonic())

    async def send_inputs(self, window: Window, hz: int) -> None:
        """Inputs at ``hz`` on a drift-free schedule with a random phase; moves change now and then.

        Like the browser client, a player sends only once its match runs (first frame); ingress
        clients, whose matches never run, start at their snapshot.
        """
        assert self.ws is not None
        await (self.running if self.track_acks else self.synced).wait()
        loop = asyncio.get_running_loop()
        period = 1.0 / hz
        rng = self.rng
        due = loop.time() + rng.random() * period
        mx, my, aim = rng.choice((-1, 0, 1)), rng.choice((-1, 0, 1)), rng.randrange(AIM_STEPS)
        try:
            while not self.closing:
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -1.0:
                    due = loop.time()  # far behind (the client is starved): do not burst
                due += period
                if rng.random() < 0.05:
                    mx, my = rng.choice((-1, 0, 1)), rng.choice((-1, 0, 1))
                aim = (aim + rng.randint(-40, 40)) % AIM_STEPS
                self.seq += 1
                message = {
                    "t": protocol.INPUT,
                    "seq": self.seq,
                    "mx": mx,
                    "my": my,
                    "aim": aim,
                    "fire": rng.random() < 0.2,
                }
                data = msgpack.packb(message)
                now = time.monotonic()
                await self.ws.send(data)
                if window.inside(now):
                    self.sent += 1
                if self.track_acks:
                    self.pending.append((self.seq, now))
        except ConnectionClosed:
            return

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()


class Flooder:
    """The flooding client, in its own process (``--flood-ws``) so it never starves the honest ones."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, seat: Seat) -> Flooder:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "load_tests.bench_edge",
            "--flood-ws",
            seat.url,
            "--flood-origin",
            seat.origin,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def line(self, wait: float) -> str:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), wait)
        return raw.decode().strip()

    async def ready(self) -> bool:
        try:
            return (await self.line(READY_TIMEOUT)) == "ready"
        except TimeoutError:
            return False

    async def say(self, word: str) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(ConnectionError):
            self.proc.stdin.write(word.encode() + b"\n")
            await self.proc.stdin.drain()

    async def finish(self) -> dict[str, Any]:
        await self.say("stop")
        try:
            text = await self.line(30)
            result: dict[str, Any] = json.loads(text.removeprefix("result ")) if text else {}
        except (TimeoutError, ValueError) as exc:
            result = {"error": f"no result from the flooder: {exc!r}"}
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        return result


async def flooder_main(url: str, origin: str) -> None:
    """The flooder process: join, say ``ready``, flood on ``go`` until cut off or told ``stop``."""
    loop = asyncio.get_running_loop()
    stats: dict[str, Any] = {"sent": 0, "received": Counter(), "close_code": None, "closed_after_s": None}
    synced = asyncio.Event()
    started = math.inf
    stopping = False

    async def read(ws: ClientConnection) -> None:
        try:
            async for data in ws:
                message = msgpack.unpackb(data) if isinstance(data, bytes) else {"t": "text"}
                kind = str(message.get("t"))
                stats["received"][kind if kind != protocol.ERROR else f"error:{message.get('code')}"] += 1
                if kind == protocol.SNAPSHOT:
                    synced.set()
        except ConnectionClosed as exc:
            if stopping:
                return  # our own close at the end of the window: the server never cut us off
            stats["close_code"] = exc.rcvd.code if exc.rcvd is not None else 1006
        if math.isfinite(started) and not stopping:
            stats["closed_after_s"] = round(time.monotonic() - started, 3)

    async def flood(ws: ClientConnection) -> None:
        pack = msgpack.packb
        seq = 0
        with contextlib.suppress(ConnectionClosed):
            while True:
                for _ in range(32):
                    seq += 1
                    message = {"t": protocol.INPUT, "seq": seq, "mx": 1, "my": 0, "aim": seq % AIM_STEPS}
                    message["fire"] = True
                    await ws.send(pack(message))
                    stats["sent"] += 1
                await asyncio.sleep(0)  # let the reader see the close frame

    try:
        ws = await open_socket(url, origin)
    except Exception as exc:
        print("result " + json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return
    reader = asyncio.create_task(read(ws))
    await asyncio.wait({reader, asyncio.create_task(synced.wait())}, return_when=asyncio.FIRST_COMPLETED)
    print("ready" if synced.is_set() else "closed", flush=True)
    if await loop.run_in_executor(None, sys.stdin.readline) == "go\n":
        started = time.monotonic()
        cpu0 = own_cpu()
        flooding = asyncio.create_task(flood(ws))
        told = asyncio.ensure_future(loop.run_in_executor(None, sys.stdin.readline))
        await asyncio.wait({reader, told}, return_when=asyncio.FIRST_COMPLETED)
        elapsed = time.monotonic() - started
        flooding.cancel()
        stats["cpu_pct"] = round((own_cpu() - cpu0) / elapsed * 100, 1)
        stats["sent_per_s"] = round(stats["sent"] / elapsed)
    stopping = True
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(), 5)
    reader.cancel()
    stats["received"] = dict(stats["received"])
    print("result " + json.dumps(stats), flush=True)


class RssSampler:
    """VmRSS of the server's process tree every 0.5 s: the run's max, and the window's max."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self.pids = descendants(roots)
        self.window_max = 0
        self.in_window = False
        self.last = 0

    async def run(self) -> None:
        while True:
            self.last = rss_bytes(self.pids)
            if self.in_window:
                self.window_max = max(self.window_max, self.last)
            await asyncio.sleep(RSS_EVERY)


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


async def drive(
    plans: list[MatchPlan], roots: list[int], variant: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Connect match by match, wait until all play, warm up, measure, then hang up."""
    window = Window()
    sends = variant in SENDING
    receives = variant in RECEIVING
    sampler = RssSampler(roots)
    sampling = asyncio.create_task(sampler.run())
    clients: list[Client] = []
    tasks: list[asyncio.Task[None]] = []
    flooder: Flooder | None = None
    began = time.monotonic()
    for plan in plans:
        batch: list[Client] = []
        for seat in plan.players:
            if seat.role == "flooder":
                flooder = await Flooder.start(seat)
                continue
            client = Client(
                index=len(clients),
                url=seat.url,
                origin=seat.origin,
                sends=sends,
                track_acks=sends and receives,
                rng=random.Random(args.seed * 100003 + len(clients)),
            )
            clients.append(client)
            batch.append(client)
            tasks.append(asyncio.create_task(client.run(window, args.hz)))
        await asyncio.gather(*(c.connected.wait() for c in batch))
        if flooder is not None and plan is plans[0] and not await flooder.ready():
            raise RuntimeError("the flooder did not get its snapshot")
    connected_s = time.monotonic() - began
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(c.settled(receives) for c in clients)), READY_TIMEOUT)
    ready_s = time.monotonic() - began
    await asyncio.sleep(args.warmup)

    counted = [c for c in clients if (c.running if receives else c.synced).is_set() and c.lost_code is None]
    pids = descendants(roots)
    sampler.pids = pids
    flood_pids = [flooder.proc.pid] if flooder is not None else []
    rss_before = rss_bytes(pids)
    sampler.window_max = rss_before
    sampler.in_window = True
    cores = [core for core in (args.server_core, args.client_core) if core >= 0]
    busy0 = core_busy(cores)
    cpu0, flood_cpu0, client_cpu0 = cpu_seconds(pids), cpu_seconds(flood_pids), own_cpu()
    window.start = time.monotonic()
    if flooder is not None:
        await flooder.say("go")
    await asyncio.sleep(args.duration)
    window.end = time.monotonic()
    cpu1, flood_cpu1, client_cpu1 = cpu_seconds(pids), cpu_seconds(flood_pids), own_cpu()
    busy1 = core_busy(cores)
    sampler.in_window = False
    sampler.window_max = max(sampler.window_max, rss_bytes(pids))
    flood_result = await flooder.finish() if flooder is not None else None
    sampling.cancel()

    await asyncio.gather(*(c.close() for c in clients))
    await asyncio.wait(tasks, timeout=STOP_GRACE + 5)
    for task in tasks:
        task.cancel()

    seconds = window.end - window.start
    server_cpu = cpu_delta(cpu0, cpu1) if roots else None
    # What else ran on our cores (other people's work on a shared machine): busy time minus ours.
    ours = {
        args.server_core: server_cpu or 0.0,
        args.client_core: client_cpu1 - client_cpu0 + cpu_delta(flood_cpu0, flood_cpu1),
    }
    others = {core: max(0.0, (busy1[core] - busy0[core] - ours[core]) / seconds * 100) for core in busy0}
    frames = sum(c.frames for c in counted)
    expected = len(counted) * args.hz * seconds if receives else 0
    inputs = sum(c.sent for c in clients)
    latencies = [x for c in clients for x in c.latencies]
    jitter = [x for c in clients for x in c.jitter]
    lost = Counter(str(c.lost_code) for c in clients if c.lost_code is not None)
    errors: Counter[str] = Counter()
    for c in clients:
        errors.update(c.errors)
    result: dict[str, Any] = {
        "matches": len(plans),
        "seats_per_match": sorted({p.seats for p in plans}),
        "players": len(clients),
        "connect_failures": sum(c.connect_error is not None for c in clients),
        "connect_errors": sorted({c.connect_error for c in clients if c.connect_error})[:5],
        "ready": len(counted),
        "connected_s": round(connected_s, 2),
        "ready_s": round(ready_s, 2),
        "window_s": round(seconds, 3),
        "frames": frames,
        "expected": round(expected),
        "delivery": round(frames / expected, 4) if expected else None,
        "frame_bytes": round(sum(c.frame_bytes for c in counted) / frames, 1) if frames else None,
        "gaps": sum(c.gaps for c in clients),
        "resyncs": sum(c.resyncs for c in clients),
        "lost": sum(lost.values()),
        "lost_in_window": sum(c.lost_in_window for c in clients),
        "lost_codes": dict(lost),
        "ended": sum(c.ended for c in clients),
        "errors": dict(errors),
        "inputs": inputs,
        "latency_samples": len(latencies),
        "lat_p50_ms": ms(percentile(latencies, 50)),
        "lat_p99_ms": ms(percentile(latencies, 99)),
        "jitter_p99_ms": ms(percentile(jitter, 99)),
        "server_cpu_pct": round(server_cpu / seconds * 100, 1) if server_cpu is not None else None,
        "us_per_frame": round(server_cpu * 1e6 / frames, 2) if server_cpu is not None and frames else None,
        "us_per_input": round(server_cpu * 1e6 / inputs, 2) if server_cpu is not None and inputs else None,
        "rss_max_mb": round(sampler.window_max / PAGE_MB, 1) if roots else None,
        "client_cpu_pct": round((client_cpu1 - client_cpu0) / seconds * 100, 1),
        "server_processes": len(pids),
        "server_core_others_pct": round(others[args.server_core], 1) if args.server_core in others else None,
        "client_core_others_pct": round(others[args.client_core], 1) if args.client_core in others else None,
    }
    if flood_result is not None:
        flood_result["rss_before_mb"] = round(rss_before / PAGE_MB, 1)
        flood_result["rss_growth_mb"] = round((sampler.window_max - rss_before) / PAGE_MB, 1)
        flood_result["process_cpu_pct"] = round(cpu_delta(flood_cpu0, flood_cpu1) / seconds * 100, 1)
        result["flood"] = flood_result
    return result


# --- runs, tables, summary -----------------------------------------------------------------------


def run_one(
    args: argparse.Namespace, round_no: int, clients: int, server: str, variant: str
) -> dict[str, Any]:
    head: dict[str, Any] = {
        "label": args.label,
        "round": round_no,
        "server": server_label(server, args),
        "kind": server,
        "variant": variant,
        "clients": clients,
    }
    workdir = Path(tempfile.mkdtemp(prefix="bench-edge-"))
    servers: ServerSet | None = None
    core = None if args.server_core < 0 else args.server_core
    try:
        if args.url:
            urls, roots, note = [args.url.rstrip("/")], ([args.pid] if args.pid else []), "--url"
        else:
            if server == "raw":
                servers = start_raw(variant, args, core)
            elif args.cluster:
                servers = start_cluster(args.repo, server, workdir, core)
            else:
                servers = start_product(args.repo, server, workdir, core)
            urls, roots, note = servers.urls, servers.pids, servers.note
            head["settle_s"] = round(wait_quiet(roots), 1)
        plans = plan_matches(urls, clients, variant, server == "raw", args.per_match)
        head.update(note=note, servers=len(urls))
        result = head | run_async(drive(plans, roots, variant, args))
        if servers is not None and (result["lost"] or result["connect_failures"] or result["errors"]):
            result["server_output"] = servers.children[-1].tail(30)
        return result
    except Exception as exc:
        tail = servers.children[0].tail(10) if servers and servers.children else ""
        return head | {"error": f"{type(exc).__name__}: {exc}", "server_output": tail}
    finally:
        if servers is not None:
            servers.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def run_async(coro: Any) -> dict[str, Any]:
    import uvloop

    result: dict[str, Any] = uvloop.run(coro)
    return result


def server_label(server: str, args: argparse.Namespace) -> str:
    if args.cluster and server in PRODUCT_SERVERS:
        return "cluster" if server == "daphne" else f"cluster-{server}"
    return server


COLUMNS: list[tuple[str, str, int]] = [
    # (key, header, width)
    ("round", "rnd", 3),
    ("server", "server", 8),
    ("variant", "variant", 7),
    ("clients", "clients", 7),
    ("ready", "ready", 5),
    ("delivery", "deliv%", 7),
    ("gaps", "gaps", 5),
    ("resyncs", "resync", 6),
    ("lost", "lost", 4),
    ("lat_p50_ms", "p50ms", 7),
    ("lat_p99_ms", "p99ms", 7),
    ("jitter_p99_ms", "jit99ms", 7),
    ("server_cpu_pct", "srvCPU%", 7),
    ("us_per_frame", "us/frame", 8),
    ("us_per_input", "us/input", 8),
    ("rss_max_mb", "rssMB", 6),
    ("client_cpu_pct", "cliCPU%", 7),
    ("server_core_others_pct", "othS%", 5),
    ("client_core_others_pct", "othC%", 5),
]
RATIO_COLUMNS: list[tuple[str, str, int]] = [("frame_vs_raw", "xraw/fr", 7), ("input_vs_raw", "xraw/in", 7)]


def cell(value: Any, key: str, width: int) -> str:
    if value is None:
        text = "-"
    elif key == "delivery":
        text = f"{value * 100:.2f}"
    elif isinstance(value, float):
        text = f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    else:
        text = str(value)
    return text.rjust(width)


def header(columns: list[tuple[str, str, int]]) -> str:
    return " ".join(title.rjust(width) for _, title, width in columns)


def row(result: dict[str, Any], columns: list[tuple[str, str, int]]) -> str:
    return " ".join(cell(result.get(key), key, width) for key, _, width in columns)


def describe_extra(result: dict[str, Any]) -> str:
    """What does not fit the row: errors, losses, the flood outcome."""
    notes = []
    if "error" in result:
        return f"    ERROR: {result['error']}\n{result.get('server_output', '')}"
    if result.get("server_output"):
        notes.append("server output (tail): " + result["server_output"][-1500:].replace("\n", "\n      "))
    if result.get("connect_failures"):
        notes.append(f"connect failures {result['connect_failures']}: {result['connect_errors']}")
    if result.get("ready", 0) < result.get("players", 0):
        notes.append(f"only {result['ready']}/{result['players']} playing when the window opened")
    if result.get("lost"):
        notes.append(f"lost codes {result['lost_codes']} ({result['lost_in_window']} in the window)")
    if result.get("errors"):
        notes.append(f"errors {result['errors']}")
    if flood := result.get("flood"):
        notes.append(
            f"flood: closed after {flood.get('closed_after_s')} s with {flood.get('close_code')}, "
            f"sent {flood.get('sent')} ({flood.get('sent_per_s')}/s), got {flood.get('received')}, "
            f"RSS {flood.get('rss_before_mb')} -> +{flood.get('rss_growth_mb')} MB, "
            f"flooder CPU {flood.get('process_cpu_pct')}%"
        )
    notes.append(
        f"matches {result.get('matches')} x {result.get('seats_per_match')} seats, "
        f"ready in {result.get('ready_s')} s, frame {result.get('frame_bytes')} B, "
        f"inputs {result.get('inputs')}"
    )
    return "\n".join(f"    {n}" for n in notes)


SUMMARY_KEYS = [key for key, _, _ in COLUMNS if key not in {"round", "server", "variant", "clients"}]


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median over rounds per server x clients x variant, and CPU ratios to raw in the same round."""
    raw = {
        (r["round"], r["clients"], r["variant"]): r for r in runs if r["kind"] == "raw" and "error" not in r
    }
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for r in runs:
        if "error" not in r:
            groups.setdefault((r["server"], r["clients"], r["variant"]), []).append(r)
    summary = []
    for (server, clients, variant), rows in groups.items():
        entry: dict[str, Any] = {
            "label": rows[0]["label"],
            "server": server,
            "clients": clients,
            "variant": variant,
            "rounds": len(rows),
        }
        for key in [*SUMMARY_KEYS, "frame_bytes", "lost_in_window"]:
            values = [r[key] for r in rows if r.get(key) is not None]
            entry[key] = round(statistics.median(values), 4) if values else None
        for key, ratio in (("us_per_frame", "frame_vs_raw"), ("us_per_input", "input_vs_raw")):
            ratios = []
            for r in rows:
                base = raw.get((r["round"], clients, variant), {}).get(key)
                if r.get(key) is not None and base:
                    ratios.append(r[key] / base)
            entry[ratio] = round(statistics.median(ratios), 2) if ratios else None
        if any("flood" in r for r in rows):
            floods = [r["flood"] for r in rows if "flood" in r]
            closed = [f["closed_after_s"] for f in floods if f.get("closed_after_s") is not None]
            entry["flood_closed_after_s"] = statistics.median(closed) if closed else None
            entry["flood_close_codes"] = sorted({str(f.get("close_code")) for f in floods})
            entry["flood_rss_growth_mb"] = statistics.median(f.get("rss_growth_mb", 0) for f in floods)
        summary.append(entry)
    order = {name: i for i, name in enumerate(ALL_VARIANTS)}
    summary.sort(key=lambda e: (order.get(e["variant"], 9), e["clients"], e["server"]))
    return summary


def git_state(repo: Path) -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}


def write_json(path: Path, args: argparse.Namespace, runs: list[dict[str, Any]], started: str) -> None:
    document = {
        "label": args.label,
        "started": started,
        "argv": sys.argv[1:],
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "repo": str(args.repo),
        "git": git_state(args.repo),
        "cpus": os.cpu_count(),
        "runs": runs,
        "summary": summarize(runs),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(document, indent=1))
    tmp.replace(path)  # partial results survive an interrupted series


def csv_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m load_tests.bench_edge",
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--clients", type=lambda s: [int(x) for x in csv_list(s)], default=[50, 100, 200, 300]
    )
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds after all clients play")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", type=csv_list, default=["daphne", "uvicorn", "raw"])
    parser.add_argument("--variants", type=csv_list, default=["duplex", "egress", "ingress"])
    parser.add_argument("--hz", type=int, default=20, help="the product's TICK_HZ (20) and the input rate")
    parser.add_argument("--per-match", type=int, default=8, help="players per match")
    parser.add_argument("--repo", type=Path, default=ROOT, help="checkout to run manage.py from")
    parser.add_argument("--url", help="benchmark this running server instead of starting one")
    parser.add_argument("--pid", type=int, help="with --url: the server's pid, for CPU and RSS")
    parser.add_argument("--cluster", action="store_true", help="product servers as a 2+2+1 Redis cluster")
    parser.add_argument("--label", default="current", help="names this series in the JSON and the plot")
    parser.add_argument("--out", type=Path, default=Path("bench-edge.json"))
    parser.add_argument("--server-core", type=int, default=0, help="-1: do not pin the server")
    parser.add_argument("--client-core", type=int, default=1, help="-1: do not pin the clients")
    parser.add_argument("--raw-loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--flood-ws", help=argparse.SUPPRESS)
    parser.add_argument("--flood-origin", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.flood_ws:
        return args
    bad = [s for s in args.servers if s not in ALL_SERVERS] + [
        v for v in args.variants if v not in ALL_VARIANTS
    ]
    if bad:
        parser.error(f"unknown server or variant: {', '.join(bad)}")
    if args.url and len(args.servers) != 1:
        parser.error("--url benchmarks one server: name its kind with --servers")
    if args.url and not args.url.startswith("http://127.0.0.1"):
        parser.error("--url must be on 127.0.0.1")
    if not 2 <= args.per_match <= MAX_PLAYERS:
        parser.error(f"--per-match must be in 2..{MAX_PLAYERS}")
    args.repo = args.repo.resolve()
    return args


def interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.flood_ws:
        import uvloop

        uvloop.run(flooder_main(args.flood_ws, args.flood_origin))
        return
    signal.signal(signal.SIGTERM, interrupted)  # run the finally blocks: stop the servers we started
    if args.client_core >= 0:
        os.sched_setaffinity(0, {args.client_core})  # the flooder process inherits it
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    pinning = f"server on core {args.server_core}, clients on core {args.client_core}"
    mode = " (cluster: every server-side process on the server core)" if args.cluster else ""
    print(f"bench_edge {args.label}: {args.repo} {git_state(args.repo)}; {pinning}{mode}", flush=True)
    print(header(COLUMNS), flush=True)
    runs: list[dict[str, Any]] = []
    for round_no in range(1, args.rounds + 1):
        for clients in args.clients:
            for server in args.servers:
                for variant in args.variants:
                    result = run_one(args, round_no, clients, server, variant)
                    runs.append(result)
                    print(row(result, COLUMNS), flush=True)
                    print(describe_extra(result), flush=True)
                    write_json(args.out, args, runs, started)
    summary = summarize(runs)
    columns = [c for c in COLUMNS if c[0] != "round"] + RATIO_COLUMNS
    print(f"\nsummary ({args.label}): median over rounds; xraw = CPU per frame / per input over raw's")
    print(header(columns))
    for entry in summary:
        print(row(entry, columns))
        if entry.get("flood_close_codes"):
            print(
                f"    flood: closed after {entry['flood_closed_after_s']} s, "
                f"codes {entry['flood_close_codes']}, RSS +{entry['flood_rss_growth_mb']} MB"
            )
    write_json(args.out, args, runs, started)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
