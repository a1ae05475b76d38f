"""With Redis the throttles are one limit for the whole cluster: two real server processes on one
real Redis (private key prefix), requests spread over both, throttled at the single limit."""

from __future__ import annotations

import http.cookiejar
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import READY, Process, database_url, manage, server_env

LIMIT = 4


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    with database_url(tmp_path) as url:
        yield url


class Browser:
    """A cookie jar that has visited one server's page (so it holds the CSRF cookie)."""

    def __init__(self, base: str, page: str = "/") -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self.jar)
        )
        self.opener.open(base + page, timeout=10).read()

    @property
    def csrf(self) -> str:
        return next(c.value for c in self.jar if c.name == "csrftoken" and c.value)

    def post(
        self, path: str, data: bytes, content_type: str, **headers: str
    ) -> tuple[int, dict[str, str], Any]:
        request = urllib.request.Request(
            self.base + path,
            data=data,
            headers={"Content-Type": content_type, "X-CSRFToken": self.csrf, **headers},
            method="POST",
        )
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()


def start(env: dict[str, str]) -> tuple[list[Process], list[str]]:
    migrate = Process(manage("migrate", "--noinput", "-v", "0"), env)
    assert migrate.proc.wait(timeout=120) == 0, "\n".join(migrate.lines)
    servers = [Process(manage("serve", "--port", "0", "--no-worker"), env) for _ in range(2)]
    worker = Process(manage("runworker", "match-tick"), env)
    processes = [*servers, worker]
    try:
        bases = [p.wait_for(READY).group(1) for p in servers]
    except BaseException:
        for process in processes:
            process.stop()
        raise
    assert bases[0] != bases[1]
    return processes, bases


def test_with_redis_two_server_processes_share_each_throttle(db_url, redis_url, redis_prefix):
    env = server_env(
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        CHANNEL_LAYER_PREFIX=redis_prefix,
        EMBEDDED_WORKER="0",
        AUTH_RATE_PER_MIN=str(LIMIT),
        MATCH_CREATE_PER_MIN=str(LIMIT),
        # The tests' client is 127.0.0.1; believing it as a proxy lets one test be many addresses.
        TRUSTED_PROXIES="127.0.0.1",
    )
    processes, bases = start(env)
    try:
        browsers = [Browser(base) for base in bases]

        def spread(
            path: str, body: dict[str, Any], forwarded_for: str
        ) -> list[tuple[int, dict[str, str], Any]]:
            # Twice the limit, alternating between the two servers, within a few seconds: a
            # bucket refills one token every 15 s, so at most LIMIT may pass in all.
            data = json.dumps(body).encode()
            return [
                browsers[i % 2].post(path, data, "application/json", **{"X-Forwarded-For": forwarded_for})
                for i in range(2 * LIMIT)
            ]

        made = spread("/api/matches/", {"players": 2}, "198.51.100.1")
        assert [status for status, _, _ in made] == [201] * LIMIT + [429] * LIMIT
        refused = made[-1]
        assert json.loads(refused[2])["error"] == "rate_limited"
        assert 1 <= int(refused[1]["Retry-After"]) <= 60 // LIMIT
        # Another client address still may, on either server.
        other = spread("/api/matches/", {"players": 2}, "198.51.100.2")
        assert [status for status, _, _ in other] == [201] * LIMIT + [429] * LIMIT

        guesses = spread("/api/auth/token/", {"username": "nobody", "password": "x"}, "198.51.100.3")
        assert [status for status, _, _ in guesses] == [400] * LIMIT + [429] * LIMIT

        # The admin login: one username guessed at from a new address every time, on both servers.
        admins = [Browser(base, "/admin/login/") for base in bases]
        statuses = []
        for i in range(2 * LIMIT):
            admin = admins[i % 2]
            form = urllib.parse.urlencode(
                {"username": "root", "password": f"guess{i}", "csrfmiddlewaretoken": admin.csrf}
            ).encode()
            status, _, _ = admin.post(
                "/admin/login/",
                form,
                "application/x-www-form-urlencoded",
                **{"X-Forwarded-For": f"203.0.113.{i}"},
            )
            statuses.append(status)
        assert statuses == [200] * LIMIT + [429] * LIMIT  # 200: the form again, "wrong password"
    finally:
        for process in processes:
            process.stop()


def test_with_redis_the_waiting_room_counts_every_servers_matches_and_each_tick_worker(
    db_url, redis_url, redis_prefix
):
    env = server_env(
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        CHANNEL_LAYER_PREFIX=redis_prefix,
        EMBEDDED_WORKER="0",
        MATCH_WAITING_MAX="4",  # one tick worker: anonymous matches may fill 2 of its 4
    )
    processes, bases = start(env)
    try:
        browsers = [Browser(base) for base in bases]
        data = json.dumps({"players": 2}).encode()
        answers = [browsers[i % 2].post("/api/matches/", data, "application/json") for i in range(3)]
        assert [status for status, _, _ in answers] == [201, 201, 503]
        assert json.loads(answers[-1][2])["error"] == "busy"
        assert int(answers[-1][1]["Retry-After"]) >= 1
        assert browsers[0].post("/api/matches/", data, "application/json")[0] == 503

        # A second tick worker: twice the room, once the servers have seen it (within ~5 s).
        processes.append(Process(manage("runworker", "match-tick"), env))
        deadline = time.monotonic() + 30
        while (status := browsers[1].post("/api/matches/", data, "application/json")[0]) == 503:
            assert time.monotonic() < deadline, "the second tick worker never counted"
            time.sleep(0.5)
        assert status == 201
    finally:
        for process in processes:
            process.stop()
