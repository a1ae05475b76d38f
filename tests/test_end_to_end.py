"""The whole game through real servers: `make run` as a user starts it, and a Redis scale-out
with two Daphne processes and a separate tick worker process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import (
    READY,
    Process,
    create_match,
    database_url,
    get_json,
    manage,
    play_all,
    query,
    refusal,
    server_env,
)

MATCH_SECONDS = 5


def assert_played_to_the_end(logs, created, db_url) -> None:
    match_id = created["id"]
    for log in logs:
        assert log.snapshot is not None
        assert log.snapshot["seat"] == log.seat
        start = log.snapshot["tick"]
        assert log.frame_ticks, f"seat {log.seat} got no frames"
        assert log.frame_ticks == list(range(start + 1, start + 1 + len(log.frame_ticks))), (
            f"seat {log.seat}: frames out of order or with a gap"
        )
        assert len(log.ends) == 1, f"seat {log.seat} got {len(log.ends)} end messages"
        assert log.close_code == 1000
        assert log.errors == []
        assert log.inputs_sent > 10
        assert log.max_ack > 0, "inputs reached the simulation"
        assert log.frame_ticks[-1] == log.ends[0]["tick"]
    result = logs[0].ends[0]["result"]
    assert all(log.ends[0]["result"] == result for log in logs)
    assert result["reason"] in {"time", "score"}
    assert sorted(r["s"] for r in result["ranking"]) == list(range(len(logs)))
    rows = query(
        db_url, "SELECT status, result, ticks FROM match_match WHERE id = %s", (match_id.replace("-", ""),)
    )
    if not rows:  # PostgreSQL stores the uuid type, SQLite the hex string
        rows = query(db_url, "SELECT status, result, ticks FROM match_match WHERE id = %s", (match_id,))
    assert len(rows) == 1
    status, stored, ticks = rows[0]
    assert status == "finished"
    assert (json.loads(stored) if isinstance(stored, str) else stored) == result
    assert ticks == logs[0].ends[0]["tick"]


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    with database_url(tmp_path) as url:
        yield url


def test_make_run_serves_a_match_that_two_players_play_to_the_end(db_url):
    server = Process(["make", "-s", "run", "HOST=127.0.0.1", "PORT=0"], server_env(DATABASE_URL=db_url))
    try:
        base = server.wait_for(READY).group(1)
        assert "in-memory" in "\n".join(server.lines)
        created = create_match(base, players=2, names=["ann", "bob"], time_limit=MATCH_SECONDS)
        logs = play_all([base], created, timeout=MATCH_SECONDS + 20)
        assert_played_to_the_end(logs, created, db_url)
        detail = get_json(f"{base}/api/matches/{created['id']}/")
        assert detail["status"] == "finished"
        assert detail["result"] == logs[0].ends[0]["result"]
        # Close codes survive a real Daphne (the in-process test harness does not check them).
        ticket = created["tickets"][0]["ticket"]
        assert refusal(base, f"/ws/match/{created['id']}/?ticket={ticket}") == (
            {"t": "error", "code": "match_over", "detail": "the match is finished"},
            4410,
        )
        error, code = refusal(base, f"/ws/match/{created['id']}/?ticket=forged")
        assert (error["code"], code) == ("ticket_invalid", 4401)
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("server", "loop"), [("uvicorn", "asyncio"), ("uvicorn", "uvloop"), ("daphne", "asyncio")]
)
def test_the_same_application_plays_a_match_under_each_server_and_loop(db_url, server, loop):
    """The ASGI application is server-agnostic: uvicorn serves it unchanged, frames and closes alike."""
    env = server_env(DATABASE_URL=db_url)
    migrate = Process(manage("migrate", "--noinput", "-v", "0"), env)
    assert migrate.proc.wait(timeout=120) == 0, "\n".join(migrate.lines)
    process = Process(manage("serve", "--port", "0", "--server", server, "--loop", loop), env)
    try:
        base = process.wait_for(READY).group(1)
        assert f"{server} on {loop}" in "\n".join(process.lines)
        created = create_match(base, players=2, time_limit=MATCH_SECONDS)
        logs = play_all([base], created, timeout=MATCH_SECONDS + 20)
        assert_played_to_the_end(logs, created, db_url)
        error, code = refusal(base, f"/ws/match/{created['id']}/?ticket=forged")
        assert (error["code"], code) == ("ticket_invalid", 4401)
    finally:
        process.stop()


def test_with_redis_two_server_processes_and_a_separate_worker_play_a_match(db_url, redis_url, redis_prefix):
    env = server_env(
        DATABASE_URL=db_url, REDIS_URL=redis_url, CHANNEL_LAYER_PREFIX=redis_prefix, EMBEDDED_WORKER="0"
    )
    migrate = Process(manage("migrate", "--noinput", "-v", "0"), env)
    assert migrate.proc.wait(timeout=120) == 0, "\n".join(migrate.lines)
    processes = [Process(manage("serve", "--port", "0"), env) for _ in range(2)]
    worker = Process(manage("runworker", "match-tick"), env)
    processes.append(worker)
    try:
        bases = [p.wait_for(READY).group(1) for p in processes[:2]]
        assert bases[0] != bases[1]
        assert all("redis" in "\n".join(p.lines) and "external" in "\n".join(p.lines) for p in processes[:2])
        created = create_match(bases[0], players=3, time_limit=MATCH_SECONDS)
        logs = play_all(bases, created, timeout=MATCH_SECONDS + 20)
        assert_played_to_the_end(logs, created, db_url)
    finally:
        for process in processes:
            process.stop()
