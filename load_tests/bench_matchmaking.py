"""Benchmark: time from queue to match found for 200 players queueing at once.

Run ``python -m load_tests.bench_matchmaking`` from the repo root (``make bench`` runs it too).
It starts the real server (``manage.py serve``: Daphne with the matchmaker and tick worker
in-process, SQLite in a temporary directory), signs 200 guests in over HTTP, gives them ratings
spread around 1000 (so the rating window matters), opens 200 real lobby sockets, and makes every
player queue at the same moment in one of the server's modes (its ``welcome.modes``): with the
default modes half duel, a quarter team, a quarter free-for-all. Every ready check is accepted.
It prints, per mode and overall, the median and maximum time from sending ``queue_join`` to
receiving ``match_found``, and how many were still waiting at the end. It asserts nothing:
numbers go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = {"duel": 2}  # how often players pick a mode; any other mode the server has: 1


def seed_ratings(db_url: str, users: list[int], modes: list[str], rng: random.Random) -> dict[int, int]:
    """Give every player a rating per mode, spread like a real population (sd 150 points)."""
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gameserver.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from lobby.models import Rating
    from lobby.services.ratings import rating_display

    shown: dict[int, int] = {}
    rows = []
    for user in users:
        mu = rng.gauss(25.0, 150 / 40)
        sigma = 3.0
        shown[user] = rating_display(mu, sigma)
        rows += [Rating(user_id=user, mode=m, mu=mu, sigma=sigma, rating=shown[user], games=5) for m in modes]
    Rating.objects.bulk_create(rows)
    return shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=40.0, help="how long to wait for matches")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.e2e import READY, LobbyClient, Process, post_json, server_env

    rng = random.Random(args.seed)
    workdir = tempfile.mkdtemp(prefix="bench-mm-")
    db_url = f"sqlite:///{workdir}/bench.sqlite3"
    env = server_env(
        DATABASE_URL=db_url, LOG_LEVEL="ERROR", AUTH_RATE_PER_MIN="100000", WS_MAX_PER_ADDRESS="100000"
    )
    migrate = Process([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env)
    assert migrate.proc.wait(timeout=120) == 0, "\n".join(migrate.lines)
    server = Process([sys.executable, "manage.py", "serve", "--port", "0"], env)
    try:
        base = server.wait_for(READY).group(1)
        tokens: dict[int, str] = {}
        for i in range(args.players):
            status, body = post_json(base, "/api/auth/token/", {"guest": f"bench{i}"})
            assert status == 201, body
            tokens[body["player"]["id"]] = body["token"]
        clients = {
            uid: LobbyClient(base, [f"Authorization: Bearer {token}"]) for uid, token in tokens.items()
        }
        welcomes = [client.expect("welcome") for client in clients.values()]
        offered = welcomes[0]["modes"]
        names = [m["mode"] for m in offered]
        ratings = seed_ratings(db_url, list(tokens), [m["mode"] for m in offered if m["rated"]], rng)
        mix = [name for name in names for _ in range(WEIGHTS.get(name, 1))]
        modes = {uid: rng.choice(mix) for uid in clients}
        waits: dict[int, float] = {}
        barrier = threading.Barrier(len(clients))
        stop = time.monotonic() + args.seconds

        def player(uid: int, client: Any) -> None:
            barrier.wait()
            sent = time.monotonic()
            client.send({"t": "queue_join", "mode": modes[uid]})
            while time.monotonic() < stop:
                try:
                    found = client.expect("match_found", timeout=max(0.1, stop - time.monotonic()))
                except AssertionError:
                    return
                waits.setdefault(uid, time.monotonic() - sent)
                client.send({"t": "ready", "check": found["check"], "accept": True})
                try:
                    client.expect("match_ready", timeout=5)
                    return
                except AssertionError:
                    continue  # someone else declined or timed out: back in the queue

        threads = [threading.Thread(target=player, args=item) for item in clients.items()]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(args.seconds + 10)
        elapsed = time.monotonic() - started
        spread = statistics.pstdev(ratings.values())
        print(
            f"{args.players} players queued at once; ratings sd {spread:.0f} around 1000; {elapsed:.1f}s run"
        )
        print(f"{'mode':6} {'queued':>6} {'matched':>7} {'median s':>9} {'max s':>7}")
        for mode in (*names, "all"):
            members = [uid for uid in clients if mode in ("all", modes[uid])]
            times = sorted(waits[uid] for uid in members if uid in waits)
            median = f"{statistics.median(times):.2f}" if times else "-"
            worst = f"{max(times):.2f}" if times else "-"
            print(f"{mode:6} {len(members):>6} {len(times):>7} {median:>9} {worst:>7}")
        for client in clients.values():
            client.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
