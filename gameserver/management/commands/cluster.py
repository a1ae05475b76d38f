"""``manage.py cluster``: the scaled-out layout on one machine, for trying it and for the tests.

N server processes (``serve --no-worker``), M tick workers and one matchmaker, each a
real process in its own process group (so Ctrl-C reaches only this command, which then stops
them in order), all against ``REDIS_URL`` or a private ``redis-server`` started here.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

READY = re.compile(r"Game server running at (http://\S+?)/? ")
READY_TIMEOUT = 120.0  # a cold start of several Django processes on a busy machine
STOP_MARGIN = 5.0  # seconds past the children's own SHUTDOWN_GRACE_SECONDS before SIGKILL
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class Child:
    """One process of the cluster; its output is forwarded by a thread, prefixed by its name."""

    name: str
    proc: subprocess.Popen[str]
    url: str = ""
    ready: threading.Event = field(default_factory=threading.Event)
    reader: threading.Thread | None = None


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def describe(returncode: int | None) -> str:
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


class Command(BaseCommand):
    help = (
        "Run a local cluster: server processes on consecutive ports, tick workers and one matchmaker, "
        "against REDIS_URL or a private redis-server."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--servers", type=int, default=2, help="server processes (default 2)")
        parser.add_argument("--workers", type=int, default=2, help="tick worker processes (default 2)")
        parser.add_argument("--host", default="127.0.0.1", help="interface the servers bind")
        parser.add_argument(
            "--port", type=int, default=8000, help="first server's port, the others follow (0: free ports)"
        )

    def handle(self, *args: Any, servers: int, workers: int, host: str, port: int, **options: Any) -> None:
        if servers < 1 or workers < 1:
            raise CommandError("--servers and --workers must be at least 1")
        if port and not 0 < port <= 65536 - servers:
            raise CommandError(f"--port {port} leaves no room for {servers} consecutive ports")
        self.lock = threading.Lock()
        self.children: list[Child] = []
        self.signals: list[int] = []
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        redis_dir = ""
        try:
            redis_url = settings.REDIS_URL
            if not redis_url:
                redis_dir = tempfile.mkdtemp(prefix="cluster-redis-")
                redis_url = self._start_redis(redis_dir)
            if not self._wait_for_redis(redis_url):
                return
            env = {**os.environ, "REDIS_URL": redis_url, "EMBEDDED_WORKER": "0", "PYTHONUNBUFFERED": "1"}
            manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
            for i in range(servers):
                bind = str(port + i if port else 0)
                self._spawn(
                    f"server-{i + 1}", [*manage, "serve", "--no-worker", "--host", host, "--port", bind], env
                )
            for i in range(workers):
                self._spawn(f"tick-{i + 1}", [*manage, "runworker", "match-tick"], env)
            self._spawn("matchmaker", [*manage, "runworker", "matchmaker"], env)
            if self._supervise(until_ready=True):
                self._summary(redis_url, redis_dir)
                self._supervise(until_ready=False)
        finally:
            self._stop_all()
            if redis_dir:
                shutil.rmtree(redis_dir, ignore_errors=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals.append(signum)

    def _write(self, text: str) -> None:
        # A closed stdout (``| head``) must not stop the readers: the children's pipes would fill.
        with self.lock, contextlib.suppress(BrokenPipeError):
            self.stdout.write(text)
            self.stdout.flush()

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None) -> Child:
        proc = subprocess.Popen(
            args,
            cwd=settings.BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,  # its own process group: a terminal's Ctrl-C reaches only us
        )
        child = Child(name=name, proc=proc)
        child.reader = threading.Thread(target=self._forward, args=(child,), name=name, daemon=True)
        child.reader.start()
        self.children.append(child)
        return child

    def _forward(self, child: Child) -> None:
        assert child.proc.stdout is not None
        for line in child.proc.stdout:
            line = line.rstrip("\n")
            if not child.ready.is_set() and (found := READY.search(line)):
                child.url = found.group(1)
                child.ready.set()
            self._write(f"[{child.name}] {line}")

    def _start_redis(self, workdir: str) -> str:
        binary = shutil.which("redis-server")
        if not binary:
            raise CommandError(
                "REDIS_URL is not set and redis-server is not on PATH: install it or set REDIS_URL"
            )
        port = free_port("127.0.0.1")
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._spawn("redis", [*args, "--dir", workdir, "--loglevel", "warning"], None)
        return f"redis://127.0.0.1:{port}/0"

    def _wait_for_redis(self, url: str) -> bool:
        """Fail early and clearly on a Redis that is not there (False: stopped meanwhile)."""
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        deadline = time.monotonic() + 15
        try:
            while not self.signals:
                try:
                    client.ping()
                    return True
                except redis.RedisError as exc:
                    if time.monotonic() > deadline or self._dead():
                        raise CommandError(f"Redis at {url} does not answer: {exc}") from exc
                    time.sleep(0.1)
            return False
        finally:
            client.close()

    def _dead(self) -> Child | None:
        return next((c for c in self.children if c.proc.poll() is not None), None)

    def _supervise(self, until_ready: bool) -> bool:
        """Watch the children until a stop signal (False once stopped, True when every server is up
        in ``until_ready`` mode); a child that exits on its own is an error."""
        deadline = time.monotonic() + READY_TIMEOUT
        servers = [c for c in self.children if c.name.startswith("server-")]
        while not self.signals:
            if dead := self._dead():
                if dead.reader is not None:
                    dead.reader.join(2)  # its last words first
                failure = (
                    f"{dead.name} (pid {dead.proc.pid}) exited unexpectedly: {describe(dead.proc.returncode)}"
                )
                self.stderr.write(failure + "; stopping the rest")
                raise CommandError(failure)
            if until_ready and all(c.ready.is_set() for c in servers):
                return True
            if until_ready and time.monotonic() > deadline:
                late = ", ".join(c.name for c in servers if not c.ready.is_set())
                raise CommandError(f"not up after {READY_TIMEOUT:.0f} s: {late}")
            time.sleep(0.1)
        self._write(f"{signal.Signals(self.signals[0]).name}: stopping the cluster")
        return False

    def _summary(self, redis_url: str, redis_dir: str) -> None:
        def count(prefix: str, what: str) -> str:
            n = sum(c.name.startswith(prefix) for c in self.children)
            return f"{n} {what}{'s' if n != 1 else ''}"

        lines = [f"Cluster up: {count('server-', 'server')}, {count('tick-', 'tick worker')}, 1 matchmaker"]
        for child in self.children:
            if child.name.startswith("server-"):
                lines.append(f"Game server running at {child.url}/ ({child.name}, pid {child.proc.pid})")
        if redis_dir:
            redis_pid = next(c.proc.pid for c in self.children if c.name == "redis")
            lines.append(f"Redis: {redis_url} (private redis-server, pid {redis_pid}, dir {redis_dir})")
        else:
            lines.append(f"Redis: {redis_url} (REDIS_URL)")
        for child in self.children:
            if child.name.startswith("tick-") or child.name == "matchmaker":
                lines.append(f"{child.name}: pid {child.proc.pid}")
        lines.append("Ctrl-C stops the cluster.")
        self._write("\n".join(lines))

    def _stop_all(self) -> None:
        """SIGTERM every process group, SIGKILL what is left after their grace period (and a
        margin); Redis last, so the
        others never lose it while they shut down. A second signal skips the grace period."""
        redis_child = [c for c in self.children if c.name == "redis"]
        rest = [c for c in self.children if c.name != "redis"]
        stopped: list[str] = []
        signalled = len(self.signals)
        for group in (rest, redis_child):
            running = [c for c in group if c.proc.poll() is None]
            for child in running:
                self._kill(child, signal.SIGTERM)
            deadline = time.monotonic() + settings.SHUTDOWN_GRACE_SECONDS + STOP_MARGIN
            while any(c.proc.poll() is None for c in running):
                if time.monotonic() > deadline or len(self.signals) > signalled:
                    for child in running:
                        self._kill(child, signal.SIGKILL)
                    for child in running:
                        child.proc.wait()
                    break
                time.sleep(0.05)
            for child in running:
                if child.reader is not None:
                    child.reader.join(2)
                stopped.append(f"{child.name} (pid {child.proc.pid}, {describe(child.proc.returncode)})")
        if stopped:
            self._write("stopped " + ", ".join(stopped))

    @staticmethod
    def _kill(child: Child, sig: signal.Signals) -> None:
        if child.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, sig)
