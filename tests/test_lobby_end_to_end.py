"""The lobby through the real server `make run` starts: one player signs up in a browser-style
session, another gets a bearer token as a guest; both queue for duel, get matched, accept, play
the match to its end over real sockets, and see their ratings change."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import (
    READY,
    LobbyClient,
    PlayerLog,
    Process,
    browser_session,
    cookie_header,
    database_url,
    get_json,
    manage,
    play,
    post_json,
    server_env,
)

MATCH_SECONDS = 5


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    with database_url(tmp_path) as url:
        yield url


def test_players_sign_in_queue_for_duel_play_the_match_and_see_their_ratings_change(db_url):
    server = Process(
        ["make", "-s", "run", "HOST=127.0.0.1", "PORT=0"],
        server_env(DATABASE_URL=db_url, MATCH_TIME_LIMIT=str(MATCH_SECONDS)),
    )
    try:
        base = server.wait_for(READY).group(1)
        # Ann registers in a browser-style session (cookie + CSRF); Bob is a guest with a token.
        session = browser_session(base)
        status, body = post_json(
            base, "/api/auth/register/", {"username": "ann", "password": "k9#mQ2!vX"}, session
        )
        assert status == 201, body
        ann_id = body["player"]["id"]
        status, body = post_json(base, "/api/auth/token/", {"guest": "bob"})
        assert status == 201, body
        bob_id = body["player"]["id"]
        headers = {ann_id: cookie_header(session), bob_id: [f"Authorization: Bearer {body['token']}"]}
        lobbies = {uid: LobbyClient(base, header) for uid, header in headers.items()}

        for uid, lobby in lobbies.items():
            welcome = lobby.expect("welcome")
            assert welcome["me"]["id"] == uid
            assert welcome["ratings"]["duel"] == 1000
        for lobby in lobbies.values():
            lobby.send({"t": "queue_join", "mode": "duel"})
        for lobby in lobbies.values():
            found = lobby.expect("match_found")
            lobby.send({"t": "ready", "check": found["check"], "accept": True})
        ready = {uid: lobby.expect("match_ready") for uid, lobby in lobbies.items()}
        match_id = ready[ann_id]["match"]
        assert ready[bob_id]["match"] == match_id

        logs: dict[int, PlayerLog] = {}
        deadline = time.monotonic() + MATCH_SECONDS + 25

        def run(uid: int) -> None:
            message = ready[uid]
            logs[uid] = play(base, match_id, message["ticket"], message["seat"], deadline, headers[uid])

        threads = [threading.Thread(target=run, args=(uid,)) for uid in lobbies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(MATCH_SECONDS + 30)
        for log in logs.values():
            assert len(log.ends) == 1
            assert log.close_code == 1000
            assert log.errors == []
            assert log.max_ack > 0
        result = logs[ann_id].ends[0]["result"]
        assert result["reason"] in {"time", "score"}

        changes: dict[int, dict[str, Any]] = {uid: lobby.expect("rating") for uid, lobby in lobbies.items()}
        for uid, change in changes.items():
            assert (change["mode"], change["match"], change["before"]) == ("duel", match_id, 1000)
            assert change["after"] != change["before"]
            profile = get_json(f"{base}/api/players/{uid}/")
            assert profile["ratings"]["duel"]["rating"] == change["after"]
            assert profile["ratings"]["duel"]["games"] == 1
            assert profile["recent"][0]["match"] == match_id
        first = next(r["s"] for r in result["ranking"] if r["rank"] == 1)
        winner = ann_id if ready[ann_id]["seat"] == first else bob_id
        loser = bob_id if winner == ann_id else ann_id
        if result["ranking"][0]["rank"] != result["ranking"][1]["rank"]:  # not a draw
            assert changes[winner]["after"] > 1000 > changes[loser]["after"]
        board = get_json(f"{base}/api/leaderboard/duel/")
        assert {e["player"]["id"] for e in board["entries"]} == {ann_id, bob_id}
        # Free again: both can queue once the match is over.
        for uid, lobby in lobbies.items():
            lobby.send({"t": "queue_join", "mode": "duel"})
            assert lobby.expect("queue", mode="duel")["rating"] == changes[uid]["after"]
        for lobby in lobbies.values():
            lobby.close()
    finally:
        server.stop()


def test_with_redis_players_on_two_servers_meet_in_the_lobby_and_play(db_url, redis_url, redis_prefix):
    """Scale-out: two Daphne processes, a tick worker and the matchmaker, each its own process."""
    env = server_env(
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        CHANNEL_LAYER_PREFIX=redis_prefix,
        EMBEDDED_WORKER="0",
        MATCH_TIME_LIMIT=str(MATCH_SECONDS),
    )
    migrate = Process(manage("migrate", "--noinput", "-v", "0"), env)
    assert migrate.proc.wait(timeout=120) == 0, "\n".join(migrate.lines)
    servers = [Process(manage("serve", "--port", "0"), env) for _ in range(2)]
    workers = [
        Process(manage("runworker", "match-tick"), env),
        Process(manage("runworker", "matchmaker"), env),
    ]
    try:
        bases = [p.wait_for(READY).group(1) for p in servers]
        players = []
        for base, name in zip(bases, ("ann", "bob"), strict=True):
            status, body = post_json(base, "/api/auth/token/", {"guest": name})
            assert status == 201, body
            header = [f"Authorization: Bearer {body['token']}"]
            players.append((body["player"]["id"], base, header, LobbyClient(base, header)))
        (_, _, _, ann), (bob_id, _, _, bob) = players
        ann.expect("welcome")
        bob.expect("welcome")
        # Presence crosses processes: Ann (server 1) sees Bob (server 2) arrive.
        deadline = time.monotonic() + 10
        while not any(
            bob_id in [p["id"] for p in m.get("joined", [])] for m in ann.seen if m["t"] == "presence"
        ):
            assert time.monotonic() < deadline, "Bob's arrival never reached Ann's server"
            ann.expect("presence", timeout=deadline - time.monotonic())
        ann.send({"t": "chat", "text": "gl hf"})
        assert bob.expect("chat")["text"] == "gl hf"
        for _, _, _, lobby in players:
            lobby.send({"t": "queue_join", "mode": "duel"})
        for _, _, _, lobby in players:
            lobby.send({"t": "ready", "check": lobby.expect("match_found")["check"], "accept": True})
        ready = [lobby.expect("match_ready") for _, _, _, lobby in players]
        end = time.monotonic() + MATCH_SECONDS + 25
        logs: list[PlayerLog] = []
        threads = [
            threading.Thread(
                target=lambda r=r, b=b, h=h: logs.append(play(b, r["match"], r["ticket"], r["seat"], end, h))
            )
            for r, (_, b, h, _) in zip(ready, players, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(MATCH_SECONDS + 30)
        assert [len(log.ends) for log in logs] == [1, 1]
        for _, _, _, lobby in players:
            change = lobby.expect("rating", timeout=15)
            assert (change["mode"], change["match"], change["before"]) == ("duel", ready[0]["match"], 1000)
            lobby.close()
    finally:
        for process in [*servers, *workers]:
            process.stop()
