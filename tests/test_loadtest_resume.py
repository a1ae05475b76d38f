"""Locust players come back after a network failure: a real server behind a real TCP proxy
(tests/proxy.py), ``load_tests.loadtest`` (what ``make loadtest`` runs) pointed at the proxy,
and every connection the proxy carries cut twice while matches are running. The players resume
their seats and their lobby sockets: the run has no failure, the resumes are counted, and every
match that started ended with one result."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from load_tests.steps import LOBBY, LOBBY_RESUME, MATCH, MATCH_RESUME
from tests.e2e import READY, ROOT, Process, database_url, manage, query, server_env
from tests.proxy import CuttableProxy
from tests.test_loadtest import stats

CUTS = 2
CUT_EVERY = 8.0  # seconds between cuts, at least
RUN_TIME = "36s"
WITHIN = 60.0  # generous ceilings for anything awaited


def running_and_waiting(db_url: str) -> tuple[int, int]:
    rows = dict(query(db_url, "SELECT status, COUNT(*) FROM match_match GROUP BY status", ()))
    return rows.get("running", 0), rows.get("waiting", 0)


def polled(db_url: str) -> tuple[int, int] | None:
    """The counts, or None while SQLite is busy with the server's writes."""
    try:
        return running_and_waiting(db_url)
    except sqlite3.OperationalError:
        return None


def test_players_resume_seats_and_lobby_when_every_connection_is_cut(tmp_path: Path) -> None:
    with database_url(tmp_path) as db_url:
        env = server_env(
            DATABASE_URL=db_url,
            AUTH_RATE_PER_MIN="1000000",  # one client address signs in every player
            MATCH_TIME_LIMIT="8",  # matches end (and are rated) within the run
            MM_FFA_WAIT="2",
            MATCH_JOIN_TIMEOUT="10",  # a match made as the run stops settles soon after
            # The players' Origin is the proxy's URL, http://127.0.0.1:<proxy port>: the
            # validator compares host names only, so the proxy's host is what must be allowed.
            ALLOWED_HOSTS="127.0.0.1",
        )
        migrate = Process(manage("migrate", "--noinput", "-v", "0"), env)
        assert migrate.proc.wait(timeout=120) == 0, "\n".join(migrate.lines)
        server = Process(manage("serve", "--port", "0"), env)
        try:
            port = urlsplit(server.wait_for(READY).group(1)).port
            assert port is not None
            with CuttableProxy(port) as proxy:
                out = tmp_path / "out"
                log = (tmp_path / "loadtest.out").open("w")
                locust = subprocess.Popen(
                    [
                        sys.executable, "-m", "load_tests.loadtest", "--host", f"http://127.0.0.1:{proxy.port}",
                        "--out", str(out), "--users", "20", "--spawn-rate", "10", "--run-time", RUN_TIME,
                        "--", "--matches-per-session", "1", "--max-input-p99", "2000",
                        "--max-matchmaking-p99", "60000", "--loglevel", "DEBUG",
                    ],
                    cwd=ROOT, env=server_env(), stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
                cuts: list[tuple[int, int, int]] = []  # (connections cut, running, waiting)
                last = 0.0
                try:
                    # Cut while matches run and none is being joined: a seat whose first
                    # connection is cut before its seat message arrives cannot be resumed (no
                    # credential yet), and the ticket no longer opens a claimed seat.
                    deadline = time.monotonic() + WITHIN
                    while len(cuts) < CUTS and locust.poll() is None and time.monotonic() < deadline:
                        counts = polled(db_url)
                        if (
                            counts
                            and counts[0] >= 2
                            and not counts[1]
                            and time.monotonic() - last >= CUT_EVERY
                        ):
                            cuts.append((proxy.cut(), *counts))
                            last = time.monotonic()
                        time.sleep(0.1)
                    code = locust.wait(timeout=WITHIN + 60)
                finally:
                    if locust.poll() is None:
                        locust.kill()
                    log.close()
            output = (tmp_path / "loadtest.out").read_text()
            tail = output[-4000:]
            assert len(cuts) == CUTS, f"cuts: {cuts}\n{tail}"
            assert all(n > 0 for n, _r, _w in cuts), f"cuts: {cuts}"
            assert code == 0, tail
            rows = stats(tmp_path)
            assert rows[("", "Aggregated")]["Failure Count"] == "0", (out / "summary.md").read_text()
            resumes = int(rows[(MATCH, MATCH_RESUME)]["Request Count"])
            assert resumes > 0, tail
            assert int(rows[(LOBBY, LOBBY_RESUME)]["Request Count"]) > 0, tail
            print(f"cuts (connections, running, waiting): {cuts}")
            print((out / "summary.md").read_text())

            # Every match that started ends with one result: the time limit ends those the run
            # left behind; rated ones have one rating change per seat.
            deadline = time.monotonic() + WITHIN
            while (polled(db_url) or (1, 1)) != (0, 0):
                assert time.monotonic() < deadline, f"matches still open: {polled(db_url)}"
                time.sleep(0.5)
        finally:
            server.stop()
            (tmp_path / "server.log").write_text("\n".join(server.lines))
        started = query(
            db_url,
            "SELECT id, status, result, mode, rated FROM match_match WHERE started_at IS NOT NULL",
            (),
        )
        assert started
        unfinished = [(m, s, r) for m, s, r, _mode, _rated in started if s != "finished" or r is None]
        assert not unfinished, unfinished
        seats = dict(query(db_url, "SELECT match_id, COUNT(*) FROM match_matchseat GROUP BY match_id", ()))
        changes = dict(
            query(db_url, "SELECT match_id, COUNT(*) FROM lobby_ratingchange GROUP BY match_id", ())
        )
        rated = [(m, bool(r), changes.get(m), seats[m]) for m, _s, _r, mode, r in started if mode != "room"]
        assert rated
        assert [(m, True, n, n) for m, _r, _c, n in rated] == rated, "one rating change per seat"
