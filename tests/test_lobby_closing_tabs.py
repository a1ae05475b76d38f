"""Lobby tabs closed while the matchmaker pushes to them (docs/protocol.md 8.4): a real server,
sixteen tabs closed at once in the middle of a burst of ``room_listed`` pushes, half of them as
a browser closes a tab (1001), half by a cut connection. Each one's player leaves everything
once the grace is over: presence, its name, an open ready check (cancelled, reason ``left``),
and the server never fails on the sends to the closing sockets. Before the general fix these
players stayed online for good in about 40% of such rounds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import LobbyClient, Process, database_url, post_json, served, server_env

ROUNDS = 3
TABS = 16
GRACE = 1  # LOBBY_RECONNECT_GRACE (seconds): a dropped socket's player leaves after it
WITHIN = 60.0  # generous ceiling for anything awaited


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Process, str]]:
    with database_url(tmp_path) as db_url:
        env = server_env(
            DATABASE_URL=db_url,
            LOBBY_RECONNECT_GRACE=str(GRACE),
            AUTH_RATE_PER_MIN="1000000",  # every player signs in from one address
        )
        with served(env) as running:
            yield running


def sign_in(base: str, name: str) -> tuple[int, list[str]]:
    status, body = post_json(base, "/api/auth/token/", {"guest": name})
    assert status == 201, (name, body)
    return body["player"]["id"], [f"Authorization: Bearer {body['token']}"]


def listed_rooms(host: LobbyClient, stop: threading.Event) -> None:
    """Public rooms opened and closed back to back: every one is two ``room_listed`` pushes to
    every lobby socket (within the socket's rate limit, so the host is never struck)."""
    while not stop.is_set():
        host.send({"t": "room_create", "mode": "duel", "max": 2, "public": True})
        host.send({"t": "room_leave"})
        time.sleep(0.06)


def gone(observer: LobbyClient, ids: set[int]) -> dict[str, Any]:
    """Presence until every id in ``ids`` has left; the last presence seen."""
    left: set[int] = set()
    deadline = time.monotonic() + WITHIN
    last: dict[str, Any] = {}
    while not ids <= left:
        assert time.monotonic() < deadline, f"still online (ghosts): {sorted(ids - left)}"
        last = observer.expect("presence", timeout=deadline - time.monotonic())
        left |= set(last.get("left", ()))
        left -= {p["id"] for p in last.get("joined", ())}
    return last


def test_tabs_closed_during_a_burst_of_pushes_leave_everything(server: tuple[Process, str]) -> None:
    process, base = server
    _, ann_header = sign_in(base, "ann")
    _, host_header = sign_in(base, "host")
    _, bob_header = sign_in(base, "bob")
    ann, host, bob = (LobbyClient(base, h) for h in (ann_header, host_header, bob_header))
    for client in (ann, host, bob):
        client.expect("welcome", timeout=WITHIN)
    for round_ in range(ROUNDS):
        names = [f"tab{round_}x{i}" for i in range(TABS)]
        signed = [sign_in(base, name) for name in names]
        tabs = [LobbyClient(base, header) for _, header in signed]
        for tab in tabs:
            tab.expect("welcome", timeout=WITHIN)
        # One of them in an open ready check with bob, who stays.
        bob.send({"t": "queue_join", "mode": "duel"})
        tabs[0].send({"t": "queue_join", "mode": "duel"})
        check = bob.expect("match_found", timeout=WITHIN)["check"]
        tabs[0].expect("match_found", timeout=WITHIN, check=check)

        stop = threading.Event()
        burst = threading.Thread(target=listed_rooms, args=(host, stop), daemon=True)
        burst.start()
        try:
            ann.expect("room_listed", timeout=WITHIN)  # the pushes are under way
            for i, tab in enumerate(tabs):
                if i % 2:
                    tab.sock.shutdown()  # the connection cut: no close frame
                else:
                    tab.sock.send_close(1001)  # a closed tab: going away, no wait for the answer
                    tab.sock.shutdown()
            time.sleep(0.5)  # pushes go on to the closing sockets
        finally:
            stop.set()
            burst.join(timeout=WITHIN)

        last = gone(ann, {player for player, _ in signed})
        assert last["online"] == 3, last  # ann, host, bob
        cancelled = bob.expect("match_cancelled", timeout=WITHIN, check=check)
        assert cancelled["reason"] == "left"
        for name in names:  # no ghost holds a name
            status, body = post_json(base, "/api/auth/token/", {"guest": name})
            assert status == 201, f"{name} is still held: {body}"
        bob.send({"t": "queue_leave"})
        bob.expect("queue", timeout=WITHIN, mode="")

    failures = [line for line in process.lines if "closed protocol" in line or "failed; closing" in line]
    assert not failures, "\n".join(failures[:20])
    for client in (ann, host, bob):
        client.close()
