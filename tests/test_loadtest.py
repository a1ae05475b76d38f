"""The Locust smoke run: ``load_tests.loadtest`` (what ``make loadtest`` runs) starts the embedded
server, runs every user class headless, and each step of the journey shows up in the CSV."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from load_tests.steps import FAULT_STEPS, STEPS
from tests.e2e import ROOT, database_url, server_env


def loadtest(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    with database_url(tmp_path) as db_url:
        return subprocess.run(
            [sys.executable, "-m", "load_tests.loadtest", "--out", str(tmp_path / "out"), *args],
            cwd=ROOT,
            env=server_env(DATABASE_URL=db_url, **env),
            capture_output=True,
            text=True,
            timeout=240,
        )


def stats(tmp_path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (tmp_path / "out" / "locust_stats.csv").open() as f:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(f)}


def test_twenty_players_for_thirty_seconds_do_every_step_without_a_failure(tmp_path):
    run = loadtest(
        tmp_path,
        *("--users", "20", "--spawn-rate", "10", "--run-time", "30s"),
        # Generous latency ceilings: a busy CI machine is not what this run measures.
        *("--", "--matches-per-session", "1", "--max-input-p99", "2000", "--max-matchmaking-p99", "60000"),
        # Matches short enough to finish (and be rated) within the run; ffa starts with 3.
        MATCH_TIME_LIMIT="8",
        MM_FFA_WAIT="2",
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    rows = stats(tmp_path)
    assert rows[("", "Aggregated")]["Failure Count"] == "0", output[-4000:]
    missing = [
        f"{kind} {name}"
        for kind, name in STEPS
        if int(rows.get((kind, name), {}).get("Request Count", 0)) == 0
    ]
    assert not missing, f"steps with no entry: {missing}\n{output[-4000:]}"
    # Entries only a fault produces (resumes) are not in STEPS, as failure-only names are not;
    # with nothing cut, none may appear: a socket that dropped by itself is a regression.
    resumed = [f"{kind} {name}" for kind, name in FAULT_STEPS if (kind, name) in rows]
    assert not resumed, f"a clean run resumed sockets: {resumed}\n{output[-4000:]}"
    report = (tmp_path / "out" / "report.html").read_text()
    assert "input-to-state" in report
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "thresholds held" in summary
    assert "| match | input-to-state |" in summary


def test_a_crossed_threshold_fails_the_run(tmp_path):
    run = loadtest(
        tmp_path,
        *("--users", "2", "--spawn-rate", "2", "--run-time", "6s"),
        *("--", "--max-fail-ratio", "-1", "LobbyIdler"),
    )
    output = run.stdout + run.stderr
    assert run.returncode == 1, output[-4000:]
    assert "threshold crossed: failure ratio 0.0000 > -1.0" in (tmp_path / "out" / "locust.log").read_text()
    assert "a threshold was crossed" in (tmp_path / "out" / "summary.md").read_text()
