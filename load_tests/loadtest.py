"""``make loadtest``: Locust headless against a game server, with CSV, HTML report and a summary.

Without ``--host`` it starts the server itself (``--server embedded``: one ``manage.py serve``
process, what ``make run`` starts; ``--server cluster``: ``manage.py cluster``), on a database
of its own, with the auth throttle raised so one load generator's address can sign in many
players. The exit code is Locust's: non-zero when a threshold of the locustfile was crossed.

    python -m load_tests.loadtest --users 200 --spawn-rate 20 --run-time 3m --processes 2
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from load_tests.steps import MATCH, MATCH_OVER_AWAY, MATCH_RESUME

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "load_tests" / "locustfile.py"
READY = re.compile(r"Game server running at (http://\S+?)/? ")
CLUSTER_UP = re.compile(r"Cluster up: ")
START_TIMEOUT = 180.0
# Server settings for a load-test server started here (the environment can override them).
SERVER_ENV = {
    "DEBUG": "1",
    "LOG_LEVEL": "WARNING",
    "PYTHONUNBUFFERED": "1",
    # One load generator is one client address: the per-address auth throttle (30 a minute)
    # would refuse most players' tokens, and the match-creation throttle (20 a minute) any
    # scenario that creates matches over HTTP, and the per-address socket limit (256) a few
    # hundred players with a lobby and a match socket each.
    "AUTH_RATE_PER_MIN": "1000000",
    "MATCH_CREATE_PER_MIN": "1000000",
    "WS_MAX_PER_ADDRESS": "1000000",
}


@dataclass
class Tree:
    """CPU seconds of a process and all its descendants since ``start``, sampled until they
    exit (a process that ends between samples loses at most its last second)."""

    root: int
    last: dict[int, tuple[str, float]] = field(default_factory=dict)
    base: dict[int, float] = field(default_factory=dict)

    def start(self) -> None:
        self.sample()
        self.base = {pid: cpu for pid, (_name, cpu) in self.last.items()}

    def sample(self) -> None:
        try:
            top = psutil.Process(self.root)
            procs = [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for proc in procs:
            try:
                times = proc.cpu_times()
                self.last[proc.pid] = (role(proc), times.user + times.system)
            except psutil.NoSuchProcess:
                continue

    def seconds(self) -> float:
        return sum(self.by_name().values())

    def by_name(self) -> dict[str, float]:
        names: dict[str, float] = {}
        for pid, (name, cpu) in self.last.items():
            names[name] = names.get(name, 0.0) + cpu - self.base.get(pid, 0.0)
        return names


def role(proc: psutil.Process) -> str:
    """``manage.py runworker match-tick`` -> "runworker match-tick"; other programs by name."""
    args = proc.cmdline()
    manage = next((i for i, a in enumerate(args) if Path(a).name == "manage.py"), None)
    if manage is not None:
        rest = [a for a in args[manage + 1 :] if not a.startswith("-")]
        return " ".join(rest[:2]) if rest[:1] == ["runworker"] else rest[0] if rest else "manage.py"
    if "locust" in args:
        return "locust"
    return proc.name()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pin(cpus: str) -> Callable[[], None] | None:
    """A Popen preexec_fn that runs the child on the given CPUs (e.g. "0" or "0,1")."""
    if not cpus:
        return None
    chosen = {int(c) for c in cpus.split(",")}
    return lambda: os.sched_setaffinity(0, chosen)


@contextmanager
def server(kind: str, cpus: str, cluster_args: str, out: Path) -> Iterator[tuple[list[str], int]]:
    """Start a server of ``kind`` on a database of its own; yield its URLs and pid; stop it."""
    with tempfile.TemporaryDirectory(prefix="loadtest-") as scratch:
        env = {**os.environ, **SERVER_ENV, **{k: v for k, v in os.environ.items() if k in SERVER_ENV}}
        env.pop("PYTEST_CURRENT_TEST", None)
        env.setdefault("DATABASE_URL", f"sqlite:///{Path(scratch) / 'loadtest.sqlite3'}")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
        )
        if kind == "cluster":
            args = ["cluster", "--port", "0", *shlex.split(cluster_args)]
        else:
            args = ["serve", "--port", str(free_port())]
        log = (out / "server.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=pin(cpus),
        )
        urls: list[str] = []
        up = threading.Event()

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                log.flush()
                if (found := READY.search(line)) and found.group(1) not in urls:
                    urls.append(found.group(1))
                    if kind != "cluster":
                        up.set()
                if CLUSTER_UP.search(line):
                    up.set()
            up.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            if not up.wait(START_TIMEOUT) or proc.poll() is not None:
                raise SystemExit(f"the {kind} server did not start; see {out / 'server.log'}")
            if kind == "cluster":
                time.sleep(1.0)  # the summary lines after "Cluster up" name every server
            yield urls, proc.pid
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            reader.join(5)
            log.close()


def sampler(trees: list[Tree], stop: threading.Event) -> threading.Thread:
    def run() -> None:
        while not stop.wait(1.0):
            for tree in trees:
                tree.sample()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def read_csv(prefix: Path, kind: str) -> list[dict[str, str]]:
    """Rows of Locust's ``<prefix>_<kind>.csv`` (stats, failures), none if it wrote no such file."""
    path = prefix.with_name(f"{prefix.name}_{kind}.csv")
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def summary(
    args: argparse.Namespace,
    urls: list[str],
    code: int,
    wall: float,
    server_cpu: Tree | None,
    locust_cpu: Tree,
    out: Path,
) -> str:
    rows = read_csv(out / "locust", "stats")
    lines = [
        f"# Load test: {args.users} users, spawn rate {args.spawn_rate}/s, {args.run_time}, "
        f"{args.processes} Locust process{'es' if args.processes != 1 else ''}",
        "",
        f"Server: {', '.join(urls)} ({'started here: ' + args.server if not args.host else 'given'}). "
        f"Exit code {code} ({'thresholds held' if code == 0 else 'a threshold was crossed: locust.log'}).",
        "",
        "| type | step | count | failures | p50 ms | p99 ms | max ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['Type'] or 'all'} | {row['Name']} | {row['Request Count']} | {row['Failure Count']} | "
            f"{row['50%']} | {row['99%']} | {float(row['Max Response Time']):.0f} |"
        )
    lines.append("")
    lines.append(
        "`frames per second`: one entry per player-second; its 'ms' columns are frames per second. "
        "`match duration` is in ms."
    )
    for row in rows:
        count = int(row["Request Count"]) - int(row["Failure Count"])
        if row["Type"] == MATCH and row["Name"] in (MATCH_RESUME, MATCH_OVER_AWAY) and count > 0:
            skipped = float(row["Average Content Size"]) * int(row["Request Count"]) / count
            lines.append(
                f"`{row['Name']}`: {count} seats came back, {skipped:.1f} ticks whose frames never "
                "arrived per drop on average (the size column of report.html)."
            )
    failures = sorted(read_csv(out / "locust", "failures"), key=lambda f: -int(f["Occurrences"]))
    if failures:
        lines += ["", "Failures (most frequent first):", ""]
        lines += [f"- {f['Occurrences']} x {f['Method']} {f['Name']}: {f['Error']}" for f in failures[:20]]
        if len(failures) > 20:
            lines.append(f"- ... {len(failures) - 20} more reasons in locust_failures.csv")
    lines += ["", f"CPU over the {wall:.0f} s run (100% = one core):", ""]
    if server_cpu is not None:
        lines.append(f"- server, all processes: {server_cpu.seconds() / wall:.0%}")
        for name, cpu in sorted(server_cpu.by_name().items()):
            lines.append(f"  - {name}: {cpu / wall:.0%}")
    else:
        lines.append("- server: not measured (not started here)")
    lines.append(f"- Locust, all processes: {locust_cpu.seconds() / wall:.0%}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="", help="server URL(s), comma-separated; empty: start one here")
    parser.add_argument("--server", choices=("embedded", "cluster"), default="embedded", help="what to start")
    parser.add_argument(
        "--cluster-args", default="", help='e.g. "--servers 2 --workers 2" (with --server cluster)'
    )
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=10.0)
    parser.add_argument("--run-time", default="2m", help="Locust's --run-time: 30s, 2m, 1h30m")
    parser.add_argument(
        "--processes", type=int, default=1, help="Locust worker processes (master + N workers)"
    )
    parser.add_argument("--out", default="loadtest-results", help="directory for CSV, HTML, logs and summary")
    parser.add_argument("--server-cpus", default="", help="CPUs for a server started here, e.g. 0")
    parser.add_argument("--locust-cpus", default="", help="CPUs for Locust, e.g. 1")
    parser.add_argument("locust_args", nargs="*", help="after --: more Locust options or user classes")
    args = parser.parse_args(argv)

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("locust_*.csv"):
        stale.unlink()

    @contextmanager
    def given() -> Iterator[tuple[list[str], int]]:
        yield [u.strip().rstrip("/") for u in args.host.split(",") if u.strip()], 0

    with (
        server(args.server, args.server_cpus, args.cluster_args, out) if not args.host else given() as (
            urls,
            server_pid,
        )
    ):
        command = [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
            "--users", str(args.users), "--spawn-rate", str(args.spawn_rate), "--run-time", args.run_time,
            "--host", urls[0], "--servers", ",".join(urls),
            "--csv", str(out / "locust"), "--html", str(out / "report.html"),
            "--logfile", str(out / "locust.log"), "--only-summary",
        ]  # fmt: skip
        if args.processes > 1:
            command += ["--processes", str(args.processes)]
        command += args.locust_args
        print("$", shlex.join(command), flush=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        started = time.monotonic()
        locust = subprocess.Popen(command, cwd=ROOT, env=env, preexec_fn=pin(args.locust_cpus))
        server_tree = Tree(server_pid) if server_pid else None
        if server_tree is not None:
            server_tree.start()
        locust_tree = Tree(locust.pid)
        stop = threading.Event()
        thread = sampler([t for t in (server_tree, locust_tree) if t is not None], stop)
        try:
            code = locust.wait()
        except KeyboardInterrupt:
            locust.send_signal(signal.SIGINT)
            code = locust.wait()
        wall = time.monotonic() - started
        stop.set()
        thread.join()
        if server_tree is not None:
            server_tree.sample()
    text = summary(args, urls, code, wall, server_tree, locust_tree, out)
    (out / "summary.md").write_text(text)
    print(text)
    print(f"Report: {out / 'report.html'}; CSV: {out}/locust_*.csv; summary: {out / 'summary.md'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
